"""SIPp scenarios shared by the live tests (loopback) and the lab's acceptance suite.

Placeholders in braces are filled with str.format (SIPp's own keywords are in brackets).
"""

# The caller dials, keys its digits, talks for {talk_ms} ms and hangs up, unless the switch hangs up first.
# The audio offer (caller) and answer (phone) of both SIPp scenarios: G.711, as the site's codecs.
SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 0
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
"""

# The caller's ringing is optional="global": a relay's workers may forward a 180 after the 200 (UDP keeps no
# order), and a caller's transaction layer drops such a late provisional response, as SIPp then does.
CALLER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a call from the trunk side">
  <send retrans="500"><![CDATA[
INVITE sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="global"/>
  <recv response="183" optional="global"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <pause milliseconds="2000"/>
  {keys}
  <recv request="BYE" timeout="{talk_ms}" ontimeout="hang_up" next="bye_taken"/>
  <label id="hang_up"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 99 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true" next="done"/>
  <label id="bye_taken"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="done"/>
</scenario>
"""

KEY_INFO = """<send><![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={digit}
Duration=160
]]></send>
  <recv response="200"/>
  <pause milliseconds="300"/>
"""

# A phone registers (digest authentication) with a contact elsewhere: the SIPp
# that answers the calls listens there. Expires 0 unregisters it.
REGISTRATION_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone registers">
  <send retrans="500"><![CDATA[
REGISTER sip:{domain}:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@{domain}>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:{user}@[local_ip]:{contact_port}>
Expires: {expires}
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:{domain}:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@{domain}>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:{user}@[local_ip]:{contact_port}>
[authentication username={user} password={password}]
Expires: {expires}
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""

# The phone answers the call (and ends it when the caller does). FreeSWITCH
# also sends it a message-summary NOTIFY after registering, as to any phone.
PHONE_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone that answers">
  <recv request="NOTIFY" optional="true" next="notified"/>
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Record-Route:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Record-Route:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send next="done"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="notified"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="done"/>
</scenario>
"""


def answering_phone(ring_ms: int = 0) -> str:
    """PHONE_SCENARIO with its SDP: a phone that answers (after ringing `ring_ms`) and sends no audio."""
    scenario = PHONE_SCENARIO.replace("{sdp}", SDP)
    if ring_ms:
        ringing = "Content-Length: 0\n]]></send>\n"
        scenario = scenario.replace(ringing, f'{ringing}  <pause milliseconds="{ring_ms}"/>\n', 1)
    return scenario


# The same offer with RFC 2833 telephone events (payload type 101, as in sip-tester's DTMF pcaps).
SDP_2833 = SDP.replace("RTP/AVP 8 0\n", "RTP/AVP 8 0 101\n") + "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n"

# A caller's or phone's voice: G.711 A-law from sip-tester's pcap (about 8 s).
SPEAKS = '<nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>'

# One digit as RFC 2833 events in the call's media, from Debian's sip-tester pcaps.
KEY_2833 = """<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{name}.pcap"/></action></nop>
  <pause milliseconds="700"/>
"""
DIGIT_NAMES = {"#": "pound", "*": "star"}

# A registered phone calls out: its INVITE is challenged (407), sent again with credentials,
# answered; it talks for {talk_ms} ms and hangs up; or the switch ends the call first.
PHONE_CALLER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone places a call">
  <send retrans="500"><![CDATA[
INVITE sip:{called}@{domain} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@{domain}>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send><![CDATA[
ACK sip:{called}@{domain} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@{domain}>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
INVITE sip:{called}@{domain} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@{domain}>
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
[authentication username={user} password={password}]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv request="BYE" timeout="{talk_ms}" ontimeout="hang_up" next="bye_taken"/>
  <label id="hang_up"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" next="done"/>
  <label id="bye_taken"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="done"/>
</scenario>
"""

# The same call refused by the switch after its early media (the guard: 603 Decline).
# It speaks (G.711 from sip-tester's pcap) once it has the early media: FreeSWITCH 1.10 paced the
# announcement by the caller's packets, and a phone that sent none held it until media_timeout.
PHONE_REFUSED_SCENARIO = PHONE_CALLER_SCENARIO[: PHONE_CALLER_SCENARIO.index('  <recv response="180"')] + """  <recv response="180" optional="true"/>
  <recv response="183"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>
  <recv response="{status}"/>
  <send><![CDATA[
ACK sip:{called}@{domain} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@{domain}>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
</scenario>
"""

# A phone that is busy: it takes the NOTIFY a registration brings, and refuses the call with 486.
BUSY_PHONE_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a busy phone">
  <recv request="NOTIFY" optional="true" next="notified"/>
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK" next="done"/>
  <label id="notified"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="done"/>
</scenario>
"""

# A phone nobody picks up: it rings until the call is cancelled.
UNANSWERED_PHONE_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone that rings unanswered">
  <recv request="NOTIFY" optional="true" next="notified"/>
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
]]></send>
  <recv request="CANCEL"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [last_cseq_number] INVITE
Content-Length: 0
]]></send>
  <recv request="ACK" next="done"/>
  <label id="notified"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="done"/>
</scenario>
"""
