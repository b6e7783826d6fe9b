"""Stand-ins for the platform's two external APIs (Claude, Telegram), served over real HTTP on loopback."""
