package dev.parley

import kotlinx.coroutines.future.await
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import java.time.Instant
import java.util.concurrent.CompletionStage
import java.util.function.Supplier
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toJavaDuration
import kotlin.time.toKotlinDuration

/**
 * A bearer token that is fetched again shortly before it expires, for the `Authorization` header of each connection
 * attempt: `bearerToken(token)` in [parleyOptions]. The token in hand is used while more than [refreshBefore] of
 * its life is left; after that, or after the server rejected the upgrade with 401, the next attempt fetches a new one
 * first. Callers at once share one fetch. The token never appears in `toString()` or logs.
 *
 * A 401 is fatal by default ([DisconnectReason.recovery]), with one exception this token makes through
 * [recoveryPolicy]: a 401 for a token that was reused from an earlier attempt (revoked early, or the server lost its
 * sessions) is retried once, with a freshly fetched token. A 401 for a token fetched for that very attempt is not:
 * fetching again would only repeat it.
 *
 * @param refreshBefore how long before its expiry a token counts as stale (default 30 s).
 * @param now the wall clock, for tests.
 * @param fetch gets a fresh token (your OAuth client, a token endpoint); it may suspend. What it throws ends the
 *   attempt as [DisconnectReason.ConnectionInfoFailed].
 */
public class BearerToken(
    private val refreshBefore: Duration = 30.seconds,
    private val now: () -> Instant = Instant::now,
    private val fetch: suspend () -> Token,
) {
    init {
        require(!refreshBefore.isNegative()) { "refreshBefore must not be negative but was $refreshBefore" }
    }

    /** A token and when it expires. */
    public class Token(
        /** The token itself, sent as `Bearer <value>`. */
        public val value: String,
        /** When the server stops accepting it. */
        public val expiresAt: Instant,
    ) {
        override fun toString(): String = "Token(██, expiresAt=$expiresAt)"
    }

    private val lock = Mutex()

    @Volatile
    private var current: Token? = null

    /** Whether the token the last attempt sent was fetched for it, rather than reused from an earlier one. */
    @Volatile
    private var lastSentWasFetched = false

    /** The token to use now: the one in hand while it is fresh, else a newly fetched one. */
    public suspend fun value(): String = valueFetching().first

    /** The token to use now, and whether it had to be fetched for it. */
    private suspend fun valueFetching(): Pair<String, Boolean> = lock.withLock {
        val held = current
        if (held != null && now() < held.expiresAt - refreshBefore.toJavaDuration()) return held.value to false
        fetch().also { current = it }.value to true
    }

    /** Forgets the token in hand, so the next [value] fetches one (a server that rejected it, a revoked session). */
    public fun invalidate() {
        current = null
    }

    /**
     * A [ConnectionInfoProvider] that adds `Authorization: Bearer <token>` to every attempt, fetching first when the
     * token is stale or the previous attempt was rejected with 401.
     */
    public fun connectionInfo(): ConnectionInfoProvider = ConnectionInfoProvider { context ->
        if ((context.lastReason as? DisconnectReason.HandshakeRejected)?.status == UNAUTHORIZED) invalidate()
        val (token, fetched) = valueFetching()
        lastSentWasFetched = fetched
        ConnectionInfo(headers = listOf("Authorization" to "Bearer $token"))
    }

    /**
     * [otherwise], except that a 401 answering a token reused from an earlier attempt is recoverable: the next attempt
     * fetches a fresh token (see [connectionInfo]). A 401 answering a token fetched for that attempt stays as
     * [otherwise] says (fatal by default). `bearerToken(token)` in [parleyOptions] sets this with the options'
     * [ParleyOptions.Builder.recoveryPolicy] as [otherwise].
     */
    public fun recoveryPolicy(otherwise: RecoveryPolicy = RecoveryPolicy.DEFAULT): RecoveryPolicy =
        RecoveryPolicy { reason ->
            val unauthorized = (reason as? DisconnectReason.HandshakeRejected)?.status == UNAUTHORIZED
            if (unauthorized && !lastSentWasFetched) Recovery.Recoverable() else otherwise.recovery(reason)
        }

    override fun toString(): String = "BearerToken(refreshBefore=$refreshBefore, expiresAt=${current?.expiresAt})"

    public companion object {
        private const val UNAUTHORIZED = 401

        /** For Java: [fetch]'s stage gives each fresh token; see [BearerToken]. */
        @JvmStatic
        public fun of(refreshBefore: java.time.Duration, fetch: Supplier<CompletionStage<Token>>): BearerToken =
            BearerToken(refreshBefore.toKotlinDuration()) { fetch.get().await() }
    }
}
