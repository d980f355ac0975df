import Foundation
import NvisyCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SSRF protection: resolves a target host and refuses addresses of internal networks
/// (private, loopback, link-local, CGNAT, multicast, unspecified, ...). The sender then
/// connects to the checked address itself (pinned), so a DNS answer that changes between the
/// check and the connect (rebinding) cannot sneak in another one.
public enum AddressGuard {
    /// The addresses `host` resolves to (numeric strings), in resolver order.
    public static func resolve(host: String, port: Int) async throws(NvisyError) -> [String] {
        let result: Result<[String], NvisyError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: resolveBlocking(host: host, port: port)) }
        }
        return try result.get()
    }

    private static func resolveBlocking(host: String, port: Int) -> Result<[String], NvisyError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let why = status == 0 ? "no address" : String(cString: gai_strerror(status))
            return .failure(NvisyError(.unavailable, "cannot resolve \(host): \(why)", retry: .transient))
        }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !out.contains(text) { out.append(text) }
            }
            node = current.pointee.ai_next
        }
        return out.isEmpty ? .failure(NvisyError(.unavailable, "cannot resolve \(host): no address", retry: .transient)) : .success(out)
    }

    /// Whether `address` (a numeric IPv4 or IPv6 address) belongs to an internal network.
    /// Anything that does not parse counts as internal.
    public static func isInternal(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let b = withUnsafeBytes(of: v4.s_addr) { [UInt8]($0) }   // network order
            return isInternalV4(b)
        }
        var v6 = in6_addr()
        let zoneless = address.split(separator: "%").first.map(String.init) ?? address
        guard inet_pton(AF_INET6, zoneless, &v6) == 1 else { return true }
        let b = withUnsafeBytes(of: v6) { [UInt8]($0) }
        if b.allSatisfy({ $0 == 0 }) { return true }                                    // ::
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }              // ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {        // ::ffff:a.b.c.d
            return isInternalV4(Array(b[12..<16]))
        }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b { return isInternalV4(Array(b[12..<16])) } // 64:ff9b::/96
        if b[0] & 0xfe == 0xfc { return true }                                          // fc00::/7 unique local
        if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return true }                          // fe80::/10 link-local
        if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return true }                          // fec0::/10 site-local
        if b[0] == 0xff { return true }                                                 // multicast
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8 { return true } // documentation
        return false
    }

    static func isInternalV4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1]) {
        case (0, _), (10, _), (127, _): return true                   // this network, private, loopback
        case (100, 64...127): return true                             // CGNAT
        case (169, 254): return true                                  // link-local (cloud metadata)
        case (172, 16...31): return true                              // private
        case (192, 168): return true                                  // private
        case (192, 0) where b[2] == 0 || b[2] == 2: return true       // IETF, TEST-NET-1
        case (198, 18...19): return true                              // benchmarking
        case (198, 51) where b[2] == 100: return true                 // TEST-NET-2
        case (203, 0) where b[2] == 113: return true                  // TEST-NET-3
        case (224...255, _): return true                              // multicast, reserved, broadcast
        default: return false
        }
    }
}
