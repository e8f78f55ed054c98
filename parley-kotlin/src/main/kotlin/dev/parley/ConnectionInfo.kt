package dev.parley

/**
 * What one connection attempt connects with, beyond the fixed [ParleyOptions]: computed before every attempt by
 * [ParleyOptions.connectionInfo], so that a token that expired, an endpoint that rotated or a URL that must be signed
 * again is fresh for each attempt rather than fixed when the client was built.
 *
 * `toString()` shows header names only, never values: they often carry credentials.
 *
 * @property url the `ws://` or `wss://` URL for this attempt, or `null` for [ParleyOptions.uri].
 * @property headers upgrade request headers for this attempt, sent after [ParleyOptions.headers]; their values are
 *   redacted in logs like those of [ParleyOptions.sensitiveHeaders] when named there (and `authorization` always).
 * @property subprotocols the subprotocols to offer this time, or `null` for [ParleyOptions.subprotocols].
 */
public class ConnectionInfo(
    public val url: String? = null,
    public val headers: List<Pair<String, String>> = emptyList(),
    public val subprotocols: List<String>? = null,
) {
    override fun toString(): String = "ConnectionInfo(url=${url?.withoutQuery()}, " +
        "headers=${headers.map { it.first }}, subprotocols=$subprotocols)"

    /** Builds a [ConnectionInfo] step by step, for Java. */
    public class Builder internal constructor() {
        private var url: String? = null
        private val headers = mutableListOf<Pair<String, String>>()
        private var subprotocols: List<String>? = null

        /** See [ConnectionInfo.url]. */
        public fun url(url: String): Builder = apply { this.url = url }

        /** Adds a header; see [ConnectionInfo.headers]. */
        public fun header(name: String, value: String): Builder = apply { headers += name to value }

        /** See [ConnectionInfo.subprotocols]. */
        public fun subprotocols(vararg protocols: String): Builder = apply { subprotocols = protocols.toList() }

        /** The info; it is checked when the attempt uses it. */
        public fun build(): ConnectionInfo = ConnectionInfo(url, headers.toList(), subprotocols)
    }

    public companion object {
        /** Nothing beyond the options: the attempt uses [ParleyOptions] as they are. */
        @JvmField
        public val UNCHANGED: ConnectionInfo = ConnectionInfo()

        /** A builder, for Java. */
        @JvmStatic
        public fun builder(): Builder = Builder()
    }
}

/** The attempt a [ConnectionInfoProvider] is asked about. */
public class AttemptContext internal constructor(
    /** This attempt's number in the current run of attempts: 1 after a connection ended or at the first connect. */
    public val attempt: Int,
    /** Connections that opened so far (0 before the first). */
    public val connections: Long,
    /** Why the previous connection or attempt ended, or `null` before any. */
    public val lastReason: DisconnectReason?,
) {
    override fun toString(): String =
        "AttemptContext(attempt=$attempt, connections=$connections, lastReason=$lastReason)"
}

/**
 * Computes the [ConnectionInfo] of each attempt ([ParleyOptions.Builder.connectionInfo]). It runs on the client's
 * dispatcher at the start of the attempt, inside [ParleyOptions.connectTimeout], so a slow token service is bounded by it; it may
 * suspend (fetch a token), and it must not block. What it throws ends the attempt as
 * [DisconnectReason.ConnectionInfoFailed], and the reconnect policy applies as for any failed attempt.
 */
public fun interface ConnectionInfoProvider {
    /** The info for [context]'s attempt. */
    public suspend fun connectionInfo(context: AttemptContext): ConnectionInfo
}
