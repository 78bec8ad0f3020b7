"""Phone control through a Telegram bot (`cappuccino telegram`)."""
