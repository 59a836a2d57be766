"""License packages and the seats users hold in them."""
