"""Past one server: a SIP proxy (Kamailio) in front of several FreeSWITCH nodes that share one
ledger in PostgreSQL. Phones register at the proxy and trunks reach the site through it; each
node accepts SIP from the proxy alone."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, model_validator

from bizpbx.settings.fields import Model, Port

# A node's name is its controller's name among the nodes (controller.postgresql.node).
NodeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]


class SipProxy(Model):
    address: ipaddress.IPv4Address = Field(description="where phones and trunks send SIP; the nodes accept SIP from this address only")
    port: Port = 5060
    probe_seconds: int = Field(
        2, ge=1, le=60, description="how often the proxy sends each node an OPTIONS; a node that fails one takes no new call"
    )


class ClusterNode(Model):
    address: ipaddress.IPv4Address = Field(description="the node's address, where its SIP profiles listen")


class Cluster(Model):
    proxy: SipProxy
    nodes: dict[NodeName, ClusterNode] = Field(min_length=2, description="the FreeSWITCH nodes, by name (two or more)")

    @model_validator(mode="after")
    def _one_address_each(self) -> Cluster:
        seen = {self.proxy.address: "the proxy"}
        for name, node in self.nodes.items():
            if node.address in seen:
                raise ValueError(f"nodes.{name}.address {node.address} is already {seen[node.address]}'s")
            seen[node.address] = f"node {name}"
        return self
