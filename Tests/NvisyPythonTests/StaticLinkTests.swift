import Foundation
import NvisyPlugins
import Testing

/// How CPython is linked into the host (Package.swift, `pythonLinkerSettings`): Debian's static
/// non-PIC `libpython3.11.a` when it is installed, exporting the C API for extension modules and
/// nothing of the host's own Swift code.
@Suite("Embedded Python linked statically")
struct StaticLinkTests {
    static let archive = "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a"

    /// The lines of /proc/self/maps that name a file.
    static func mappedFiles() throws -> Set<String> {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        return Set(maps.split(separator: "\n").compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).first.map(String.init)
        })
    }

    /// A symbol the dynamic linker can find from anywhere in the process (what an extension
    /// module's undefined `Py*` references are bound to).
    static func global(_ name: String) -> UnsafeMutableRawPointer? {
        let handle = dlopen(nil, RTLD_NOW)
        defer { if let handle { dlclose(handle) } }
        return dlsym(handle, name)
    }

    @Test("the interpreter is the executable's own copy; C extension modules load and bind to it",
          .enabled(if: FileManager.default.fileExists(atPath: archive)))
    func staticInterpreter() async throws {
        // Start the interpreter and run a provider: importing the SDK loads lib-dynload's
        // `_asyncio` and the venv's `orjson`, both C extensions that need the exported C API.
        let host = try await PyTest.host(["bench.toml": PyTest.manifest("bench", module: "nvisy_bench")])
        let source = try await host.makeSource("bench/gen", config: ["count": 3])
        var ids: [JSONValue] = []
        for try await batch in source.read(batchSize: 2) { ids += batch.map { $0.json["id"] ?? .null } }
        #expect(ids == [0, 1, 2])
        await source.close()

        let files = try Self.mappedFiles()
        #expect(!files.contains { $0.contains("libpython3.11.so") }, "the shared libpython is loaded: \(files.filter { $0.contains("python") })")
        #expect(files.contains { $0.hasSuffix("/_asyncio.cpython-311-x86_64-linux-gnu.so") })
        #expect(files.contains { $0.contains("/orjson/") })
        // The C API is exported by the executable (not by a libpython3.11.so) ...
        let newList = try #require(Self.global("PyList_New"))
        var info = Dl_info()
        #expect(dladdr(newList, &info) != 0)
        let object = info.dli_fname.map { String(cString: $0) } ?? ""
        #expect(!object.contains("libpython"), "PyList_New comes from \(object)")
        #expect(Self.global("_PyRuntime") != nil)
        // ... and none of the host's Swift symbols are (plugins must never bind to them):
        // `PluginHost`'s metadata accessor is public in NvisyPlugins, linked into this executable.
        #expect(Self.global("$s12NvisyPlugins10PluginHostCMa") == nil)
    }
}
