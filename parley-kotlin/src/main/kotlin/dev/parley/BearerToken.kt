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
 * attempt: `connectionInfo = token.connectionInfo()`. The token in hand is used while more than [refreshBefore] of
 * its life is left; after that, or after the server rejected the upgrade with 401, the next attempt fetches a new one
 * first. Callers at once share one fetch. The token never appears in `toString()` or logs.
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

    /** The token to use now: the one in hand while it is fresh, else a newly fetched one. */
    public suspend fun value(): String = lock.withLock {
        val held = current
        if (held != null && now() < held.expiresAt - refreshBefore.toJavaDuration()) return held.value
        fetch().also { current = it }.value
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
        ConnectionInfo(headers = listOf("Authorization" to "Bearer ${value()}"))
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
