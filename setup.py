"""Where the packages live: everything else is in pyproject.toml.

The sim/, loadtest/ and costmodel/ folders stay at the top of the repository but install under the
``botcap`` namespace (``botcap.sim``, ``botcap.loadtest``, ``botcap.costmodel``), so that installing
botcap claims one import name, not generic ones like ``sim``. A package-dir mapping needs the list of
subpackages computed, hence this file rather than a static table.
"""

from setuptools import find_packages, setup

FOLDERS = ("sim", "loadtest", "costmodel")

packages = find_packages(include=["botcap", "botcap.*"])
package_dir = {"botcap": "botcap"}
for folder in FOLDERS:
    for sub in find_packages(include=[folder, f"{folder}.*"]):
        packages.append(f"botcap.{sub}")
        package_dir[f"botcap.{sub}"] = sub.replace(".", "/")

setup(packages=packages, package_dir=package_dir)
