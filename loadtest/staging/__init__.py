"""Staging bot: aiogram 3 on asyncpg + Redis, Claude via the anthropic SDK (loadtest/staging)."""
