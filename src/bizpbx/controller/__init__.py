"""The call controller: executes routing plans on FreeSWITCH's outbound socket,
rates every finished call into the ledger, tells consumers about calls."""
