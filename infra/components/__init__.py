"""One Pulumi `ComponentResource` per module; each docstring lists what it creates."""
