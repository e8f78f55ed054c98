package dev.parley

import kotlin.time.Duration

/**
 * Whether reconnecting after a [DisconnectReason] can help: the verdict a [RecoveryPolicy] gives and
 * [DisconnectReason.recovery] holds by default.
 *
 * With [DisconnectDecision.Default], a [Fatal] reason is not retried: the client stays disconnected until
 * [ParleyClient.connect], so a revoked token or a wrong path is not hammered forever. A [Recoverable] one is retried
 * under [ParleyOptions.reconnect], not sooner than [Recoverable.retryAfter].
 */
public sealed class Recovery {
    /**
     * Another attempt may succeed: the server restarted, the network failed, the server is busy.
     *
     * @property retryAfter the earliest the next attempt may start, when the server said so (an HTTP `Retry-After`),
     *   or `null`: the backoff delay is used, or this if it is longer.
     */
    public data class Recoverable(
        val retryAfter: Duration? = null,
    ) : Recovery() {
        init {
            require(retryAfter == null || !retryAfter.isNegative()) { "retryAfter must not be negative: $retryAfter" }
        }
    }

    /** Trying again the same way will fail the same way: a credential, a path or a certificate must change first. */
    public object Fatal : Recovery() {
        override fun toString(): String = "Fatal"
    }
}

/**
 * Decides which disconnects are worth reconnecting after ([ParleyOptions.recoveryPolicy]). It runs on the client's
 * coroutine right after [ParleyHandler.onDisconnect], for every reason, so it must be quick and must not block; a
 * policy that throws stops the client with [StopReason.HandlerFailed].
 *
 * It only shapes [DisconnectDecision.Default]: a handler that answers [DisconnectDecision.Reconnect] reconnects even
 * after a fatal reason, and one that answers [DisconnectDecision.StayDisconnected] stays down after any.
 *
 * ```kotlin
 * // A server that answers 401 while its token service catches up: retry those too, with backoff.
 * recoveryPolicy = RecoveryPolicy { reason ->
 *     if (reason is DisconnectReason.HandshakeRejected && reason.status == 401) Recovery.Recoverable() else reason.recovery
 * }
 * ```
 */
public fun interface RecoveryPolicy {
    /** The verdict for [reason]. */
    public fun recovery(reason: DisconnectReason): Recovery

    public companion object {
        /** Parley's classification, [DisconnectReason.recovery]; see there for the table. */
        public val DEFAULT: RecoveryPolicy = RecoveryPolicy { it.recovery }
    }
}
