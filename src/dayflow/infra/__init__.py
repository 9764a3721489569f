"""dayflow's Pulumi program: `__main__.py` composes the components in `components/`."""
