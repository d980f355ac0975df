import CPython
import Foundation
import Logging
import NvisyCore

/// Loads `runtime = "python"` plugins into the embedded CPython interpreter.
///
/// ```swift
/// let host = PluginHost(directory: plugins, runtimes: [PythonRuntime(venv: venvURL, logger: logger)], logger: logger)
/// ```
///
/// Python starts lazily, on the first enabled Python manifest, with an isolated config whose
/// `sys.prefix` is `venv` (so `sys.path` is the stdlib + the venv's site-packages) — a host
/// without Python plugins never initialises it. The manifest's `module` is imported with the
/// manifest's directory and, when set, its `library` directory (relative to the manifest) on
/// `sys.path`; `module = "pkg.mod"` takes the module's `PROVIDERS` list, `module = "pkg.mod:Class"`
/// one class. A reload re-imports the module (`importlib.reload`); instances already made
/// keep their classes. An import error fails that plugin only, with the exception and frames.
public final class PythonRuntime: PluginRuntime, Sendable {
    public let name = "python"
    public let venv: URL
    private let logger: Logger

    /// - Parameter venv: the virtual environment with `nvisy_plugin` and the providers'
    ///   packages (`./.venv`, made by scripts/install-deps.sh).
    public init(venv: URL = PythonRuntime.defaultVenv, logger: Logger) {
        self.venv = venv
        self.logger = logger
    }

    /// `$NVISY_VENV`, else `./.venv`.
    public static var defaultVenv: URL {
        if let v = ProcessInfo.processInfo.environment["NVISY_VENV"], !v.isEmpty { return URL(fileURLWithPath: v) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".venv")
    }

    /// Whether the embedded interpreter has been started in this process.
    public static var isStarted: Bool { PythonInterpreter.current != nil }

    struct PluginDescription: Decodable {
        struct Provider: Decodable {
            var name: String
            var description: String
            var kinds: [ProviderKind]
            var dataType: ProviderDataType
            var inputDataType: ProviderDataType
            var configSchema: JSONValue
            var credentialsSchema: JSONValue?
        }
        var version: String
        var location: String?
        var providers: [Provider]
    }

    public func load(_ manifest: PluginManifest) async throws -> LoadedPlugin {
        guard let module = manifest.module, !module.isEmpty else { throw NvisyError.invalidInput("`module` is missing") }
        let interpreter = try PythonInterpreter.shared(venv: venv, logger: logger)
        let dir = manifest.path.deletingLastPathComponent()
        var paths = [dir.standardizedFileURL.path]
        if let lib = manifest.library {
            let url = lib.hasPrefix("/") ? URL(fileURLWithPath: lib) : dir.appendingPathComponent(lib)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
                throw NvisyError.notFound("`library` \(url.standardizedFileURL.path) is not a directory (for Python it names the folder added to sys.path)")
            }
            paths.insert(url.standardizedFileURL.path, at: 0)
        }
        let context = "python module \"\(module)\""
        let sysPaths = paths
        let (json, classes) = try await interpreter.perform { () throws -> (Data, [PyRefBox]) in
            guard let host = interpreter.hostModule, let load = PyObject_GetAttrString(host, "load") else {
                throw NvisyError.internal("the Python bridge is not loaded")
            }
            defer { nvisy_py_decref(load) }
            let pyPaths = PyList_New(sysPaths.count)!
            for (i, p) in sysPaths.enumerated() { nvisy_py_list_set(pyPaths, i, Py.string(p)) }
            let r = try Py.call(load, [Py.string(module), pyPaths], context: "\(context) failed to load")
            defer { nvisy_py_decref(r) }
            let text = Py.text(nvisy_py_tuple_get(r, 0)!) ?? "{}"
            let list = nvisy_py_tuple_get(r, 1)!
            var classes: [PyRefBox] = []
            for i in 0..<nvisy_py_list_size(list) {
                classes.append(PyRefBox(PyRef(owning: Py.retained(nvisy_py_list_get(list, i)!), in: interpreter)))
            }
            return (Data(text.utf8), classes)
        }
        let description: PluginDescription
        do {
            description = try JSONDecoder().decode(PluginDescription.self, from: json)
        } catch {
            throw NvisyError.invalidInput("\(context): a provider describes itself wrongly (\(error))")
        }
        var factories: [any ProviderFactory] = []
        for (p, cls) in zip(description.providers, classes) {
            guard p.configSchema.objectValue != nil else {
                throw NvisyError.invalidInput("\(context): the config schema of \"\(p.name)\" is not a JSON object")
            }
            let d = ProviderDescriptor(plugin: manifest.name, name: p.name, description: p.description, kinds: p.kinds,
                                       dataType: p.dataType, inputDataType: p.inputDataType,
                                       configSchema: p.configSchema, credentialsSchema: p.credentialsSchema)
            factories.append(PythonProviderFactory(descriptor: d, cls: cls.ref, interpreter: interpreter))
        }
        return LoadedPlugin(version: description.version, location: description.location, providers: factories)
    }
}

struct PyRefBox: @unchecked Sendable {
    let ref: PyRef
    init(_ ref: PyRef) { self.ref = ref }
}
