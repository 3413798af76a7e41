# shellcheck shell=bash
# Mirror hosts: tcpcopy off the production server (LAB.md, "Mirror hosts"). A mirror host
# sits on the server LAN (192.0.2.41, .42, ...) and receives copies of the frames arriving
# at the online host, either on a "switch mirror port" (a veth fed by tc mirred from the
# online host's eth0 ingress) or inside VXLAN (a VXLAN device on the online host, fed the
# same way, as a cloud traffic mirror sends them).

MIRROR_NS=()

# mirror_host N: create mirror host N (1, 2, ...) at 192.0.2.(40+N); prints its namespace.
mirror_host() {
    local n=$1 ns="${P}mir$1"
    _lab_server "$ns" "192.0.2.$((40 + n))" "2001:db8:1::$((40 + n))" "mir$n"
    MIRROR_NS[n]=$ns
    wait_until "reach $ns $IP_RTR" 10 || fail "mirror host $n cannot reach the router"
}

# _mirror_ingress DEV...: mirror the online host's eth0 ingress to each DEV (in order).
_mirror_ingress() {
    local acts=() d
    for d in "$@"; do acts+=(action mirred egress mirror dev "$d"); done
    ip netns exec "$NS_ONL" tc qdisc add dev eth0 clsact 2>/dev/null || true
    ip netns exec "$NS_ONL" tc filter add dev eth0 ingress protocol all prio 1 u32 \
        match u32 0 0 "${acts[@]}" || fail "tc mirred: cannot mirror eth0's ingress"
}

# span_ports N...: a mirror port from the online host to each mirror host N: a veth pair
# (spanN on the online host, span0 on the mirror host, no address), fed by tc mirred.
span_ports() {
    local n devs=()
    for n in "$@"; do
        _lab_veth "$NS_ONL" "span$n" "${MIRROR_NS[n]}" span0
        devs+=("span$n")
    done
    _mirror_ingress "${devs[@]}"
}

# vxlan_mirror N: the online host sends its ingress frames to mirror host N inside VXLAN
# (VNI 42, UDP 4789), as AWS VPC Traffic Mirroring does. The mirror host has no VXLAN
# device: tcpcopy --decap vxlan reads the outer packets with libpcap. A mirrored frame of
# 1514 bytes becomes a 1564-byte packet: the LAN's links get a larger MTU (jumbo frames, as
# mirror sessions use), so the outer packets are not fragmented.
vxlan_mirror() {
    local n=$1 ns=${MIRROR_NS[$1]} mip="192.0.2.$((40 + $1))"
    ip -n "$NS_ONL" link set eth0 mtu 9000
    ip -n "$NS_RTR" link set onl0 mtu 9000
    ip -n "$NS_RTR" link set "mir$n" mtu 9000
    ip -n "$ns" link set eth0 mtu 9000
    ip -n "$NS_ONL" link add vxm type vxlan id 42 dstport 4789 local "$IP_ONL" remote "$mip" \
        dev eth0 || fail "cannot create the VXLAN device"
    ip -n "$NS_ONL" link set vxm mtu 8950 up
    # Nothing listens on 4789 at the mirror host: keep its kernel from answering each
    # packet with an ICMP port unreachable (libpcap sees them before the firewall).
    ip netns exec "$ns" nft -f - <<NFT || fail "nft: cannot add the mirror's input rule"
table inet tclab_mirror {
    chain input { type filter hook input priority 0; udp dport 4789 drop; }
}
NFT
    _mirror_ingress vxm
}
