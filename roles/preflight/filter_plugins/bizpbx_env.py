"""`secrets | bizpbx_secret_env`: the site secrets as the BIZPBX_* environment the site model reads."""

from __future__ import annotations


def bizpbx_secret_env(secrets, prefix="BIZPBX_"):
    """{'trunks': {'carrier': {'password': 'x'}}} -> {'BIZPBX_TRUNKS__CARRIER__PASSWORD': 'x'}."""
    env = {}

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif node is not None and path:
            env[prefix + "__".join(part.upper() for part in path)] = str(node)

    walk(secrets or {}, [])
    return env


def bizpbx_secret_values(secrets):
    """Every leaf value of the secrets mapping (for the default-password check)."""
    values = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif node is not None:
            values.append(str(node))

    walk(secrets or {})
    return values


class FilterModule:
    def filters(self):
        return {"bizpbx_secret_env": bizpbx_secret_env, "bizpbx_secret_values": bizpbx_secret_values}
