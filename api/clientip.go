package api

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the address per-IP limits count against. X-Forwarded-For is
// believed only when the connection comes from a trusted proxy, and then
// read from the right: the first address that is not itself a trusted proxy
// is the client (anything further left could have been written by the
// client).
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		addr = addr.Unmap()
		if !s.trusted(addr) {
			return addr
		}
		peer = addr
	}
	return peer
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
			return a.Unmap()
		}
		return netip.IPv4Unspecified()
	}
	return ap.Addr().Unmap()
}
