import Foundation
import NvisyCore
import NvisyPlugins
import Testing

/// How CPython is linked into the host (Package.swift, `pythonLinkerSettings`): in release builds
/// Debian's static non-PIC `libpython3.11.a` when it is installed, exporting the C API for
/// extension modules and nothing of the host's own Swift code; in debug builds the shared library.
/// `swift test -c release` runs the static case; `make test` (debug) the shared one.
@Suite("How embedded Python is linked")
struct StaticLinkTests {
    static let archive = "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a"

    /// The mappings of /proc/self/maps that name a file: (address range, path).
    static func mappings() throws -> [(ClosedRange<UInt>, String)] {
        // procfs reports a size of 0: read to the end rather than trust it.
        let data = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps")).readToEnd() ?? Data()
        let maps = String(decoding: data, as: UTF8.self)
        return maps.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let bounds = fields.first?.split(separator: "-").compactMap { UInt($0, radix: 16) } ?? []
            guard fields.count > 5, bounds.count == 2 else { return nil }
            return (bounds[0]...(bounds[1] - 1), String(fields[5]))
        }
    }

    /// A symbol the dynamic linker can find from anywhere in the process (what an extension
    /// module's undefined `Py*` references are bound to).
    static func global(_ name: String) -> UnsafeMutableRawPointer? {
        let handle = dlopen(nil, RTLD_NOW)
        defer { if let handle { dlclose(handle) } }
        return dlsym(handle, name)
    }

    /// Whether this build links `libpython3.11.a` (release, with the archive installed).
    static var linkedStatically: Bool {
        #if DEBUG
        false
        #else
        FileManager.default.fileExists(atPath: archive)
        #endif
    }

    @Test("release: the interpreter is the executable's own copy (debug: the shared library); C extension modules bind to it")
    func interpreterLinking() async throws {
        // Start the interpreter and run a provider: importing the SDK loads lib-dynload's
        // `_asyncio` and the venv's `orjson`, both C extensions that need the exported C API.
        let host = try await PyTest.host(["bench.toml": PyTest.manifest("bench", module: "nvisy_bench")])
        let source = try await host.makeSource("bench/gen", config: ["count": 3])
        var ids: [JSONValue] = []
        for try await batch in source.read(batchSize: 2) { ids += batch.map { $0.json["id"] ?? .null } }
        #expect(ids == [0, 1, 2])
        await source.close()

        let maps = try Self.mappings()
        let files = Set(maps.map(\.1))
        let shared = files.contains { $0.contains("libpython3.11.so") }
        #expect(shared != Self.linkedStatically, "libpython3.11.so mapped: \(shared), static build: \(Self.linkedStatically)")
        #expect(files.contains { $0.hasSuffix("/_asyncio.cpython-311-x86_64-linux-gnu.so") })
        #expect(files.contains { $0.contains("/orjson/") })
        // The C API that extension modules bind to is the executable's own when it is static ...
        let newList = UInt(bitPattern: try #require(Self.global("PyList_New")))
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let owner = maps.first { $0.0.contains(newList) }?.1 ?? "no mapped file"
        if Self.linkedStatically {
            #expect(owner == executable, "PyList_New is in \(owner), not in \(executable)")
        } else {
            #expect(owner.contains("libpython3.11.so"), "PyList_New is in \(owner)")
        }
        #expect(Self.global("_PyRuntime") != nil)
        // ... and none of the host's Swift symbols are (plugins must never bind to them):
        // `PluginHost`'s metadata accessor is public in NvisyPlugins, linked into this executable.
        #expect(Self.global("$s12NvisyPlugins10PluginHostCMa") == nil)
    }
}
