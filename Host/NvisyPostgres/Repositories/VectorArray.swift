import Foundation
import NIOCore
import NvisyCore
import PostgresNIO
import Synchronization

/// A `vector[]` parameter (pgvector) in PostgreSQL's binary format: each vector goes to the
/// server as its dimension and raw floats, which pgvector's `vector_recv` reads directly, where
/// the text form costs a decimal (or hexadecimal) formatting per float in the host and a
/// `strtof` per float in the server — most of the database's CPU for a chunk write.
///
/// pgvector is an extension, so its type's OIDs differ between databases: they are looked up
/// (``VectorTypes/lookUp(on:logger:)``) and carried by the value, as PostgresNIO's dynamic-type
/// encoding allows. A non-finite float, which pgvector refuses, is sent as 0.
struct VectorArray: PostgresDynamicTypeEncodable {
    let vectors: [[Float]]
    let types: VectorTypes

    var psqlType: PostgresDataType { PostgresDataType(types.array) }
    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        // The array header: one dimension, no NULLs, the element type, the length, lower bound 1.
        buffer.writeInteger(Int32(1))
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Int32(bitPattern: types.element))
        buffer.writeInteger(Int32(vectors.count))
        buffer.writeInteger(Int32(1))
        for vector in vectors {
            // Each element: its byte length, then vector_recv's layout (int16 dimension, int16
            // unused, the floats in network order).
            buffer.writeInteger(Int32(4 + 4 * vector.count))
            buffer.writeInteger(Int16(truncatingIfNeeded: vector.count))
            buffer.writeInteger(Int16(0))
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4 * vector.count) { out in
                for (i, x) in vector.enumerated() {
                    out.storeBytes(of: (x.isFinite ? x : 0).bitPattern.bigEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
                return 4 * vector.count
            }
        }
    }
}

/// The OIDs of pgvector's `vector` type and its array type in one database.
struct VectorTypes: Sendable, Equatable {
    let element: UInt32
    let array: UInt32

    /// The OIDs once looked up, for every later write: they change only if the extension is
    /// dropped and made again, which a write then reports (and the next one looks up again).
    final class Cache: Sendable {
        private let known = Mutex<VectorTypes?>(nil)

        func get(on connection: PostgresConnection, logger: Logger) async throws -> VectorTypes {
            if let types = known.withLock({ $0 }) { return types }
            let types = try await VectorTypes.lookUp(on: connection, logger: logger)
            known.withLock { $0 = types }
            return types
        }

        func forget() { known.withLock { $0 = nil } }
    }

    static func lookUp(on connection: PostgresConnection, logger: Logger) async throws -> VectorTypes {
        let rows = try await connection.query("SELECT 'vector'::regtype::oid::int8, 'vector[]'::regtype::oid::int8", logger: logger)
        for try await (element, array) in rows.decode((Int64, Int64).self) {
            return VectorTypes(element: UInt32(element), array: UInt32(array))
        }
        throw NvisyError.internal("pgvector's vector type is missing")
    }
}
