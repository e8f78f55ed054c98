package dev.parley.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectReason
import dev.parley.ReconnectPolicy
import dev.parley.Recovery
import dev.parley.StopReason
import kotlin.time.Duration

/*
 * The connection's life as a pure table: (phase, event) -> (next phase, effects). No I/O, clock or randomness here;
 * ConnectionLoop executes the effects, calls the handler and feeds its answers back as events. Every phase decides
 * about every event (the `when`s are exhaustive), so a new event cannot be forgotten anywhere.
 *
 * | phase        | socket                  | user sends            | the one timer it may run        |
 * |--------------|-------------------------|-----------------------|---------------------------------|
 * | Disconnected | none                    | fail NotConnected     | retry backoff (if scheduled)    |
 * | Connecting   | being opened            | queued                | (connect timeout is the attempt's own) |
 * | Connected    | open, writer running    | written in order      | "stable" (resets failure count) |
 * | Closing      | our close frame sent    | fail ConnectionClosed | close timeout                   |
 * | Stopped      | released                | fail ClientStopped    | none; terminal                  |
 *
 * Closing is published as Connected: from outside the connection is up until the handshake ends, and messages the
 * peer sends before its close reply still reach the handler (RFC 6455 §7.1.2: an endpoint reads until the peer's
 * close). Only sends are refused, because nothing may follow our close frame.
 */

/** Where the connection is; `failures` counts reconnect attempts in a row since the last stable connection. */
internal sealed class Phase {
    abstract val failures: Int

    data class Disconnected(
        override val failures: Int,
        val retryScheduled: Boolean = false,
        /** onDisconnect has not answered yet: whether a retry comes is not known. */
        val deciding: Boolean = false,
        /** A connect() arrived during the close handshake: connect once onDisconnect has answered. */
        val connectNext: Boolean = false,
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
        /** A connect() arrived while closing: honoured when the handshake ends. */
        val connectAfter: Boolean = false,
    ) : Phase()

    data class Stopped(
        val reason: StopReason,
    ) : Phase() {
        override val failures: Int get() = 0
    }
}

/** A close we started: by [dev.parley.ParleyClient.disconnect] ([byHandler] false) or by a handler's Disconnect. */
internal data class PendingClose(
    val code: Int,
    val reason: String,
    val byHandler: Boolean,
    val handlerReason: Any?,
) {
    /** How the close ended: [peerCode] and [peerReason] are the peer's answer, `null` if it never answered. */
    fun outcome(acknowledged: Boolean, peerCode: Int? = null, peerReason: String? = null): DisconnectReason =
        if (byHandler) {
            DisconnectReason.ByHandler(handlerReason, code, acknowledged, peerCode, peerReason)
        } else {
            DisconnectReason.ClosedLocally(code, reason, acknowledged, peerCode, peerReason)
        }
}

internal sealed class Event : LoopInput {
    /** [dev.parley.ParleyClient.connect], or the start of the client. */
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
    object StableElapsed : Event()

    /** Stop for good; [abort] drops the socket without a close frame ([dev.parley.ParleyClient.cancel]). */
    data class StopRequested(
        val reason: StopReason,
        val abort: Boolean = false,
    ) : Event()

    /**
     * The handler's answer to onDisconnect, with whether the disconnect was the user's own [userClosed] and the
     * recovery policy's verdict on [last].
     */
    data class Decided(
        val decision: Decision,
        val userClosed: Boolean,
        val last: DisconnectReason,
        val recovery: Recovery = Recovery.Recoverable(),
    ) : Event()
}

/** onDisconnect's answer, as the table needs it. */
internal sealed class Decision {
    object Default : Decision()

    /** Reconnect; [after] is the handler's own delay, or `null` for the backoff. */
    data class Reconnect(
        val after: Duration? = null,
    ) : Decision()

    object Stay : Decision()

    data class Stop(
        val reason: Any?,
    ) : Decision()
}

internal sealed class Effect {
    object OpenTransport : Effect()

    object CancelAttempt : Effect()

    /** Start writing user frames: runs onConnect first, so its pushes go out before anything queued. */
    object CallOnConnect : Effect()

    data class CallOnDisconnect(
        val reason: DisconnectReason,
        val userClosed: Boolean,
    ) : Effect()

    /** Fail the callers of connect() waiting for this attempt: no connection is coming for them. */
    data class FailConnectWaiters(
        val reason: DisconnectReason,
    ) : Effect()

    data class SendClose(
        val code: Int,
        val reason: String,
    ) : Effect()

    /** Drop the socket, after at most a short wait (off the loop) for a close frame queued in this step. */
    object ReleaseTransport : Effect()

    /** Drop the socket at once: the link is presumed dead, or the user asked to abort. */
    object AbortTransport : Effect()

    object StartCloseTimer : Effect()

    object StartStableTimer : Effect()

    /**
     * Wait, then attempt again: [chosen] when the handler named the delay, else the backoff for [attempt] but no less
     * than [notBefore] (a server's Retry-After).
     */
    data class ScheduleRetry(
        val attempt: Int,
        val chosen: Duration? = null,
        val notBefore: Duration? = null,
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

private fun stop(event: Event.StopRequested, vararg before: Effect): Step =
    Step(Phase.Stopped(event.reason), listOf(*before, Effect.Terminate(event.reason)))

/**
 * The table. Returns `null` for an event the phase ignores (the loop logs it at DEBUG): reports from a connection or
 * attempt that has already ended, a timer of another phase, a connect while already connecting, anything after Stopped.
 */
internal fun transition(phase: Phase, event: Event, policy: ReconnectPolicy?): Step? = when (phase) {
    is Phase.Disconnected ->
        when (event) {
            Event.ConnectRequested -> Step(Phase.Connecting(0), listOf(Effect.OpenTransport))

            Event.RetryDue ->
                if (phase.retryScheduled) Step(Phase.Connecting(phase.failures), listOf(Effect.OpenTransport)) else null

            // disconnect() while down cancels a pending retry (the timer dies with it) and a connect() asked for
            // during the close handshake.
            is Event.CloseRequested -> Step(phase.copy(retryScheduled = false, connectNext = false))

            is Event.StopRequested -> stop(event)

            is Event.Decided -> decide(phase, event, policy)

            Event.Upgraded, is Event.AttemptFailed, is Event.PeerClosed, is Event.Violated, is Event.TransportLost,
            Event.CloseTimedOut, is Event.HeartbeatTimedOut, Event.StableElapsed,
            -> null
        }

    is Phase.Connecting ->
        when (event) {
            Event.Upgraded -> Step(
                Phase.Connected(phase.failures),
                listOf(Effect.StartStableTimer, Effect.CallOnConnect),
            )

            is Event.AttemptFailed -> down(phase, event.reason, userClosed = false, releaseTransport = false)

            // No 101 yet, so there is no WebSocket to send a close frame on: abandon the attempt.
            is Event.CloseRequested -> {
                val outcome = event.close.outcome(acknowledged = false)
                Step(
                    Phase.Disconnected(phase.failures, deciding = true),
                    listOf(
                        Effect.CancelAttempt,
                        Effect.FailQueued(outcome),
                        Effect.FailConnectWaiters(outcome),
                        Effect.CallOnDisconnect(outcome, !event.close.byHandler),
                    ),
                )
            }

            is Event.StopRequested -> stop(event, Effect.CancelAttempt)

            // A connect() while connecting joins the running attempt.
            Event.ConnectRequested, Event.RetryDue, is Event.PeerClosed, is Event.Violated, is Event.TransportLost,
            Event.CloseTimedOut, is Event.HeartbeatTimedOut, Event.StableElapsed, is Event.Decided,
            -> null
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

            Event.StableElapsed -> Step(phase.copy(failures = 0))

            is Event.StopRequested ->
                if (event.abort) {
                    stop(event, Effect.AbortTransport)
                } else {
                    stop(event, Effect.SendClose(stopCloseCode(event.reason), ""), Effect.ReleaseTransport)
                }

            // Already connected: the loop answers a connect() at once.
            Event.ConnectRequested, Event.RetryDue, Event.Upgraded, is Event.AttemptFailed, Event.CloseTimedOut,
            is Event.Decided,
            -> null
        }

    is Phase.Closing ->
        when (event) {
            is Event.PeerClosed ->
                down(
                    phase,
                    phase.close.outcome(acknowledged = true, peerCode = event.code, peerReason = event.reason),
                    !phase.close.byHandler,
                )

            is Event.TransportLost, is Event.Violated, Event.CloseTimedOut, is Event.HeartbeatTimedOut ->
                down(phase, phase.close.outcome(acknowledged = false), !phase.close.byHandler)

            // Honoured once the handshake is over; the caller keeps waiting meanwhile.
            Event.ConnectRequested -> Step(phase.copy(connectAfter = true))

            // Already closing; a later disconnect() still cancels a connect() asked for meanwhile.
            is Event.CloseRequested -> Step(phase.copy(connectAfter = false))

            is Event.StopRequested ->
                stop(event, if (event.abort) Effect.AbortTransport else Effect.ReleaseTransport)

            Event.RetryDue, Event.Upgraded, is Event.AttemptFailed, Event.StableElapsed, is Event.Decided -> null
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
): Step {
    val connectNext = phase is Phase.Closing && phase.connectAfter
    return Step(
        Phase.Disconnected(phase.failures, deciding = true, connectNext = connectNext),
        // Queued and in-flight frames fail with the real reason before releasing the socket cancels the writer.
        listOfNotNull(
            closeFirst,
            Effect.FailQueued(reason),
            (if (abort) Effect.AbortTransport else Effect.ReleaseTransport).takeIf { releaseTransport },
            // Callers of a connect() made during the close handshake wait for the connection that follows.
            Effect.FailConnectWaiters(reason).takeUnless { connectNext },
            Effect.CallOnDisconnect(reason, userClosed),
        ),
    )
}

/**
 * After onDisconnect: stop, connect as asked during the close handshake, reconnect with backoff, give up, or stay.
 * A Default decision stays down after a fatal reason; only an explicit Reconnect overrides the verdict.
 */
private fun decide(phase: Phase.Disconnected, event: Event.Decided, configured: ReconnectPolicy?): Step {
    val decision = event.decision
    if (decision is Decision.Stop) {
        val reason = StopReason.ByHandler(decision.reason)
        return Step(Phase.Stopped(reason), listOf(Effect.Terminate(reason)))
    }
    if (phase.connectNext) return Step(Phase.Connecting(0), listOf(Effect.OpenTransport))
    val policy =
        when (decision) {
            Decision.Stay -> null

            // A user's disconnect() means "stay down" unless the handler explicitly asks to reconnect.
            Decision.Default -> configured.takeUnless { event.userClosed || event.recovery is Recovery.Fatal }

            is Decision.Reconnect -> configured ?: ReconnectPolicy.DEFAULT

            is Decision.Stop -> error("handled above")
        } ?: return Step(Phase.Disconnected(phase.failures))
    val maxRetries = policy.maxRetries
    if (maxRetries != null && phase.failures >= maxRetries) {
        val reason = StopReason.RetriesExhausted(phase.failures, event.last)
        return Step(Phase.Stopped(reason), listOf(Effect.Terminate(reason)))
    }
    return Step(
        Phase.Disconnected(phase.failures + 1, retryScheduled = true),
        listOf(
            Effect.ScheduleRetry(
                phase.failures,
                chosen = (decision as? Decision.Reconnect)?.after,
                notBefore = (event.recovery as? Recovery.Recoverable)?.retryAfter,
            ),
        ),
    )
}
