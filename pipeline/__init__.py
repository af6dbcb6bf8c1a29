"""What happens to one news item: pure, typed stage functions with no streaming imports."""
