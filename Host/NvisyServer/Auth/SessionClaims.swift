import Foundation
import JWTKit

/// The claims of a session JWT: issuer, audience, subject (account id), JWT id (session row id),
/// issued-at and expiry.
struct SessionClaims: JWTPayload, Equatable {
    static let issuer = "nvisy"
    static let audience = "nvisy-api"

    var iss: IssuerClaim
    var aud: AudienceClaim
    var sub: SubjectClaim
    var jti: IDClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try aud.verifyIntendedAudience(includes: Self.audience)
        guard iss.value == Self.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "wrong issuer") }
    }
}
