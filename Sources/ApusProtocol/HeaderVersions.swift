// Which header version frames a request or response (see Docs/protocol.md, "Headers").

extension RequestHeader {
    /// The request header version a request of `apiKey` at `apiVersion` uses: 2 for flexible
    /// versions, 1 otherwise, and 0 for ControlledShutdown v0. Header v2 keeps ClientId's
    /// int16 length prefix; only the tagged-field section is new.
    public static func version(apiKey: ApiKey, apiVersion: Int16) -> Int16 {
        if apiKey == .controlledShutdown && apiVersion == 0 {
            return 0
        }
        return apiKey.flexibleVersions?.contains(apiVersion) == true ? 2 : 1
    }
}

extension ResponseHeader {
    /// The response header version a response of `apiKey` at `apiVersion` uses: 1 for flexible
    /// versions, otherwise 0. ApiVersions responses always use header v0, so that a client
    /// that sent a version the broker does not know can still read the header (KIP-511).
    public static func version(apiKey: ApiKey, apiVersion: Int16) -> Int16 {
        if apiKey == .apiVersions {
            return 0
        }
        return apiKey.flexibleVersions?.contains(apiVersion) == true ? 1 : 0
    }
}
