package dev.parley.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectReason
import dev.parley.ReconnectPolicy
import dev.parley.StopReason

/*
 * The connection's life as a pure table: (phase, event) -> (next phase, effects). No I/O, clock or randomness here;
 * ConnectionLoop executes the effects, calls the handler and feeds its answers back as events.
 *
 * | phase        | socket                  | user sends          | the one timer it may run       |
 * |--------------|-------------------------|---------------------|--------------------------------|
 * | Disconnected | none                    | fail NotConnected   | retry backoff (if scheduled)   |
 * | Connecting   | being opened            | queued              | (connect timeout is the attempt's own) |
 * | Connected    | open, writer running    | written in order    | "stable" (resets failure count) |
 * | Closing      | our close frame sent    | fail ConnectionClosed | close timeout                |
 * | Stopped      | released                | fail ClientStopped  | none; terminal                 |
 *
 * Closing is published as Connected: from outside, the connection is up until the handshake ends.
 */

/** Where the connection is; `failures` counts reconnect attempts in a row since the last stable connection. */
internal sealed class Phase {
    abstract val failures: Int

    data class Disconnected(
        override val failures: Int,
        val retryScheduled: Boolean,
    ) : Phase()

    data class Connecting(
        override val failures: Int,
    ) : Phase()

    data class Connected(
        override val failures: Int,
    ) : Phase()

    data class Closing(
        override val failures: Int,
        val close: PendingClose,
    ) : Phase()

    data class Stopped(
        val reason: StopReason,
    ) : Phase() {
        override val failures: Int get() = 0
    }
}

/** A close we started: by [ParleyClient.disconnect] ([byHandler] false) or by a handler's Disconnect action. */
internal data class PendingClose(
    val code: Int,
    val reason: String,
    val byHandler: Boolean,
    val handlerReason: Any?,
) {
    fun outcome(acknowledged: Boolean): DisconnectReason = if (byHandler) {
        DisconnectReason.ByHandler(handlerReason, code, acknowledged)
    } else {
        DisconnectReason.ClosedLocally(code, reason, acknowledged)
    }
}

internal sealed class Event {
    /** [ParleyClient.connect], or the start of the client. */
    object ConnectRequested : Event()

    /** The backoff delay elapsed. */
    object RetryDue : Event()

    /** The transport opened and the upgrade succeeded. */
    object Upgraded : Event()

    data class AttemptFailed(
        val reason: DisconnectReason,
    ) : Event()

    data class CloseRequested(
        val close: PendingClose,
    ) : Event()

    data class PeerClosed(
        val code: Int,
        val reason: String,
    ) : Event()

    /** The peer broke the protocol; we answer with a close frame carrying [closeCode] and drop the connection. */
    data class Violated(
        val reason: DisconnectReason,
        val closeCode: Int,
    ) : Event()

    /** End of stream without a close frame, or a read or write failure. */
    data class TransportLost(
        val reason: DisconnectReason,
    ) : Event()

    object CloseTimedOut : Event()

    /** The heartbeat found the connection dead. */
    data class HeartbeatTimedOut(
        val reason: DisconnectReason.HeartbeatTimedOut,
    ) : Event()

    /** The connection stayed up for [ReconnectPolicy.stableAfter]. */
    object Stable : Event()

    data class StopRequested(
        val reason: StopReason,
    ) : Event()

    /** The handler's answer to onDisconnect, with whether the disconnect was the user's own [userClosed]. */
    data class Decided(
        val decision: Decision,
        val userClosed: Boolean,
        val last: DisconnectReason,
    ) : Event()
}

internal enum class Decision { DEFAULT, RECONNECT, STAY }

internal sealed class Effect {
    object OpenTransport : Effect()

    object CancelAttempt : Effect()

    /** Start writing user frames: runs onConnect first, so its pushes go out before anything queued. */
    object CallOnConnect : Effect()

    data class CallOnDisconnect(
        val reason: DisconnectReason,
        val userClosed: Boolean,
    ) : Effect()

    data class SendClose(
        val code: Int,
        val reason: String,
    ) : Effect()

    /** Drop the socket, after at most a short wait for frames already handed to the writer (a close reply). */
    object ReleaseTransport : Effect()

    /** Drop the socket at once: the link is presumed dead, so nothing is worth waiting for. */
    object AbortTransport : Effect()

    object StartCloseTimer : Effect()

    object StartStableTimer : Effect()

    data class ScheduleRetry(
        val attempt: Int,
    ) : Effect()

    /** Fail every queued frame: the attempt failed or the connection is closing. */
    data class FailQueued(
        val reason: DisconnectReason?,
    ) : Effect()

    data class Terminate(
        val reason: StopReason,
    ) : Effect()
}

internal data class Step(
    val next: Phase,
    val effects: List<Effect> = emptyList(),
)

/** The close code sent when the client stops for [reason]. */
private fun stopCloseCode(reason: StopReason): Int = when (reason) {
    is StopReason.HandlerFailed -> CloseCodes.INTERNAL_ERROR
    is StopReason.ByHandler -> CloseCodes.NORMAL
    else -> CloseCodes.GOING_AWAY
}

/**
 * The table. Returns `null` for an event the phase ignores (the loop logs it at DEBUG): late timer firings, a
 * connect while already connecting, anything after Stopped.
 */
internal fun transition(phase: Phase, event: Event, policy: ReconnectPolicy?): Step? = when (phase) {
    is Phase.Disconnected ->
        when (event) {
            Event.ConnectRequested -> Step(Phase.Connecting(0), listOf(Effect.OpenTransport))

            Event.RetryDue ->
                if (phase.retryScheduled) {
                    Step(
                        Phase.Connecting(phase.failures),
                        listOf(Effect.OpenTransport),
                    )
                } else {
                    null
                }

            // disconnect() while down cancels a pending retry (the timer dies with the phase change).
            is Event.CloseRequested -> Step(phase.copy(retryScheduled = false))

            is Event.StopRequested -> Step(Phase.Stopped(event.reason), listOf(Effect.Terminate(event.reason)))

            is Event.Decided -> decide(phase, event, policy)

            else -> null
        }

    is Phase.Connecting ->
        when (event) {
            Event.Upgraded -> Step(
                Phase.Connected(phase.failures),
                listOf(Effect.StartStableTimer, Effect.CallOnConnect),
            )

            is Event.AttemptFailed -> down(phase, event.reason, userClosed = false, releaseTransport = false)

            // No 101 yet, so there is no WebSocket to send a close frame on: abandon the attempt.
            is Event.CloseRequested ->
                Step(
                    Phase.Disconnected(phase.failures, retryScheduled = false),
                    listOf(
                        Effect.CancelAttempt,
                        Effect.FailQueued(event.close.outcome(acknowledged = false)),
                        Effect.CallOnDisconnect(event.close.outcome(acknowledged = false), !event.close.byHandler),
                    ),
                )

            is Event.StopRequested ->
                Step(
                    Phase.Stopped(event.reason),
                    listOf(Effect.CancelAttempt, Effect.Terminate(event.reason)),
                )

            else -> null
        }

    is Phase.Connected ->
        when (event) {
            is Event.CloseRequested ->
                Step(
                    Phase.Closing(phase.failures, event.close),
                    listOf(
                        Effect.SendClose(event.close.code, event.close.reason),
                        Effect.FailQueued(null),
                        Effect.StartCloseTimer,
                    ),
                )

            is Event.PeerClosed ->
                // Echo the peer's code (RFC 6455 §5.5.1); 1005 means "no code", so answer with an empty close.
                down(
                    phase,
                    DisconnectReason.ClosedByPeer(event.code, event.reason),
                    userClosed = false,
                    closeFirst = Effect.SendClose(event.code, ""),
                )

            is Event.Violated ->
                down(phase, event.reason, userClosed = false, closeFirst = Effect.SendClose(event.closeCode, ""))

            is Event.TransportLost -> down(phase, event.reason, userClosed = false)

            is Event.HeartbeatTimedOut -> down(phase, event.reason, userClosed = false, abort = true)

            Event.Stable -> Step(phase.copy(failures = 0))

            is Event.StopRequested ->
                Step(
                    Phase.Stopped(event.reason),
                    listOf(
                        Effect.SendClose(stopCloseCode(event.reason), ""),
                        Effect.ReleaseTransport,
                        Effect.Terminate(event.reason),
                    ),
                )

            else -> null
        }

    is Phase.Closing ->
        when (event) {
            is Event.PeerClosed -> down(phase, phase.close.outcome(acknowledged = true), !phase.close.byHandler)

            is Event.TransportLost, is Event.Violated, Event.CloseTimedOut, is Event.HeartbeatTimedOut ->
                down(phase, phase.close.outcome(acknowledged = false), !phase.close.byHandler)

            is Event.StopRequested ->
                Step(Phase.Stopped(event.reason), listOf(Effect.ReleaseTransport, Effect.Terminate(event.reason)))

            else -> null
        }

    is Phase.Stopped -> null
}

/** Leaving a live phase for Disconnected: drop the socket, fail what is queued, and ask the handler what next. */
private fun down(
    phase: Phase,
    reason: DisconnectReason,
    userClosed: Boolean,
    closeFirst: Effect.SendClose? = null,
    releaseTransport: Boolean = true,
    abort: Boolean = false,
): Step = Step(
    Phase.Disconnected(phase.failures, retryScheduled = false),
    // Queued and in-flight frames fail with the real reason before releasing the socket cancels the writer.
    listOfNotNull(
        closeFirst,
        Effect.FailQueued(reason),
        (if (abort) Effect.AbortTransport else Effect.ReleaseTransport).takeIf { releaseTransport },
        Effect.CallOnDisconnect(reason, userClosed),
    ),
)

/** After onDisconnect: reconnect with backoff, give up, or stay down. */
private fun decide(phase: Phase.Disconnected, event: Event.Decided, configured: ReconnectPolicy?): Step {
    val policy =
        when (event.decision) {
            Decision.STAY -> null

            // A user's disconnect() means "stay down" unless the handler explicitly asks to reconnect.
            Decision.DEFAULT -> configured.takeUnless { event.userClosed }

            Decision.RECONNECT -> configured ?: ReconnectPolicy.DEFAULT
        } ?: return Step(phase.copy(retryScheduled = false))
    val maxRetries = policy.maxRetries
    if (maxRetries != null && phase.failures >= maxRetries) {
        val reason = StopReason.RetriesExhausted(phase.failures, event.last)
        return Step(Phase.Stopped(reason), listOf(Effect.Terminate(reason)))
    }
    return Step(
        Phase.Disconnected(phase.failures + 1, retryScheduled = true),
        listOf(Effect.ScheduleRetry(phase.failures)),
    )
}
