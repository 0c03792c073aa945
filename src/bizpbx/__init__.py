"""bizpbx: FreeSWITCH with the customer's own SIP trunk, routed and rated like the hosted service."""

__version__ = "0.1.0"
