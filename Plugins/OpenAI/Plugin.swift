import Foundation
import NvisyPluginKit

// The `openai` plugin: chat completions and embeddings from any OpenAI-compatible API
// (OpenAI, vLLM, Ollama, llama.cpp's server), over URLSession. It links NvisyPluginKit and
// Foundation only: never a Swift package the host links too (see PluginABI/README.md).

@_cdecl("nvisy_plugin_entry")
public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
    export(host, plugin: "openai", version: "0.1.0", ChatProvider.self, EmbeddingsProvider.self)
}
