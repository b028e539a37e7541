"""What clients send, checked at the edge: names, plain fields, metadata limits, reserved keys, paths."""
