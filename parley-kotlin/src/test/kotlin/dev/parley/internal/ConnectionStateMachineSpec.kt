package dev.parley.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectReason
import dev.parley.ReconnectPolicy
import dev.parley.Recovery
import dev.parley.StopReason
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import java.io.EOFException
import kotlin.time.Duration.Companion.seconds

/** The transition table, row by row, without a network: each row is (phase, event) -> (next phase, effects). */
class ConnectionStateMachineSpec :
    FunSpec({
        val policy = ReconnectPolicy(maxRetries = 3)
        val lost = DisconnectReason.TransportFailed(EOFException())
        val userClose = PendingClose(1000, "bye", byHandler = false, handlerReason = null)
        val handlerClose = PendingClose(4000, "", byHandler = true, handlerReason = "done")
        val handlerFailed = StopReason.HandlerFailed(IllegalStateException("boom"))
        val acknowledgedBye = DisconnectReason.ClosedLocally(1000, "bye", acknowledged = true, 1000, "")
        val unauthorized = DisconnectReason.HandshakeRejected(401, emptyMap(), "401 Unauthorized")

        data class Row(
            val name: String,
            val phase: Phase,
            val event: Event,
            val next: Phase?,
            val effects: List<Effect> = emptyList(),
            val policy: ReconnectPolicy? = null,
        )

        val rows =
            listOf(
                Row(
                    "a connect request while disconnected opens the transport",
                    Phase.Disconnected(2, retryScheduled = true),
                    Event.ConnectRequested,
                    Phase.Connecting(0),
                    listOf(Effect.OpenTransport),
                ),
                Row(
                    "a due retry opens the transport and keeps the failure count",
                    Phase.Disconnected(2, retryScheduled = true),
                    Event.RetryDue,
                    Phase.Connecting(2),
                    listOf(Effect.OpenTransport),
                ),
                Row(
                    "a late retry timer after disconnect() is ignored",
                    Phase.Disconnected(2, retryScheduled = false),
                    Event.RetryDue,
                    null,
                ),
                Row(
                    "disconnect() while a retry is pending cancels the retry",
                    Phase.Disconnected(2, retryScheduled = true),
                    Event.CloseRequested(userClose),
                    Phase.Disconnected(2, retryScheduled = false),
                ),
                Row(
                    "a successful upgrade calls onConnect last, after starting the stable timer",
                    Phase.Connecting(1),
                    Event.Upgraded,
                    Phase.Connected(1),
                    listOf(Effect.StartStableTimer, Effect.CallOnConnect),
                ),
                Row(
                    "a failed attempt fails queued frames, then asks the handler",
                    Phase.Connecting(1),
                    Event.AttemptFailed(DisconnectReason.ConnectTimedOut(1.seconds)),
                    Phase.Disconnected(1, deciding = true),
                    listOf(
                        Effect.FailQueued(DisconnectReason.ConnectTimedOut(1.seconds)),
                        Effect.FailConnectWaiters(DisconnectReason.ConnectTimedOut(1.seconds)),
                        Effect.CallOnDisconnect(DisconnectReason.ConnectTimedOut(1.seconds), userClosed = false),
                    ),
                ),
                Row(
                    "disconnect() while connecting abandons the attempt without a close frame",
                    Phase.Connecting(0),
                    Event.CloseRequested(userClose),
                    Phase.Disconnected(0, deciding = true),
                    listOf(
                        Effect.CancelAttempt,
                        Effect.FailQueued(DisconnectReason.ClosedLocally(1000, "bye", acknowledged = false)),
                        Effect.FailConnectWaiters(DisconnectReason.ClosedLocally(1000, "bye", acknowledged = false)),
                        Effect.CallOnDisconnect(
                            DisconnectReason.ClosedLocally(1000, "bye", acknowledged = false),
                            true,
                        ),
                    ),
                ),
                Row(
                    "disconnect() while connected sends our close with its code and starts the close timer",
                    Phase.Connected(0),
                    Event.CloseRequested(userClose),
                    Phase.Closing(0, userClose),
                    listOf(Effect.SendClose(1000, "bye"), Effect.FailQueued(null), Effect.StartCloseTimer),
                ),
                Row(
                    "a remote close is answered with the same code before the socket is released",
                    Phase.Connected(0),
                    Event.PeerClosed(4002, "bye"),
                    Phase.Disconnected(0, deciding = true),
                    listOf(
                        Effect.SendClose(4002, ""),
                        Effect.FailQueued(DisconnectReason.ClosedByPeer(4002, "bye")),
                        Effect.ReleaseTransport,
                        Effect.FailConnectWaiters(DisconnectReason.ClosedByPeer(4002, "bye")),
                        Effect.CallOnDisconnect(DisconnectReason.ClosedByPeer(4002, "bye"), userClosed = false),
                    ),
                ),
                Row(
                    "a protocol violation closes with its code",
                    Phase.Connected(0),
                    Event.Violated(DisconnectReason.ProtocolViolation(1007, "bad"), CloseCodes.INVALID_PAYLOAD),
                    Phase.Disconnected(0, deciding = true),
                    listOf(
                        Effect.SendClose(1007, ""),
                        Effect.FailQueued(DisconnectReason.ProtocolViolation(1007, "bad")),
                        Effect.ReleaseTransport,
                        Effect.FailConnectWaiters(DisconnectReason.ProtocolViolation(1007, "bad")),
                        Effect.CallOnDisconnect(DisconnectReason.ProtocolViolation(1007, "bad"), userClosed = false),
                    ),
                ),
                Row(
                    "a lost connection is released without a close frame",
                    Phase.Connected(0),
                    Event.TransportLost(lost),
                    Phase.Disconnected(0, deciding = true),
                    listOf(
                        Effect.FailQueued(lost),
                        Effect.ReleaseTransport,
                        Effect.FailConnectWaiters(lost),
                        Effect.CallOnDisconnect(lost, false),
                    ),
                ),
                Row(
                    "a stable connection resets the failure count",
                    Phase.Connected(3),
                    Event.StableElapsed,
                    Phase.Connected(0),
                ),
                Row(
                    "the peer's close ends our handshake as acknowledged",
                    Phase.Closing(0, userClose),
                    Event.PeerClosed(1000, ""),
                    Phase.Disconnected(0, deciding = true),
                    listOf(
                        Effect.FailQueued(acknowledgedBye),
                        Effect.ReleaseTransport,
                        Effect.FailConnectWaiters(acknowledgedBye),
                        Effect.CallOnDisconnect(acknowledgedBye, true),
                    ),
                ),
                Row(
                    "the close timeout ends a handler's close as unacknowledged, not user-closed",
                    Phase.Closing(0, handlerClose),
                    Event.CloseTimedOut,
                    Phase.Disconnected(0, deciding = true),
                    listOf(
                        Effect.FailQueued(DisconnectReason.ByHandler("done", 4000, acknowledged = false)),
                        Effect.ReleaseTransport,
                        Effect.FailConnectWaiters(DisconnectReason.ByHandler("done", 4000, acknowledged = false)),
                        Effect.CallOnDisconnect(DisconnectReason.ByHandler("done", 4000, acknowledged = false), false),
                    ),
                ),
                Row(
                    "stop() while connected says going away and terminates",
                    Phase.Connected(0),
                    Event.StopRequested(StopReason.Requested),
                    Phase.Stopped(StopReason.Requested),
                    listOf(
                        Effect.SendClose(CloseCodes.GOING_AWAY, ""),
                        Effect.ReleaseTransport,
                        Effect.Terminate(StopReason.Requested),
                    ),
                ),
                Row(
                    "a failing handler closes with 1011",
                    Phase.Connected(0),
                    Event.StopRequested(handlerFailed),
                    Phase.Stopped(handlerFailed),
                    listOf(
                        Effect.SendClose(CloseCodes.INTERNAL_ERROR, ""),
                        Effect.ReleaseTransport,
                        Effect.Terminate(handlerFailed),
                    ),
                ),
                Row(
                    "the default decision without a policy stays down",
                    Phase.Disconnected(0, retryScheduled = false),
                    Event.Decided(Decision.Default, userClosed = false, last = lost),
                    Phase.Disconnected(0, retryScheduled = false),
                ),
                Row(
                    "the default decision with a policy schedules attempt n and counts it",
                    Phase.Disconnected(1, retryScheduled = false),
                    Event.Decided(Decision.Default, userClosed = false, last = lost),
                    Phase.Disconnected(2, retryScheduled = true),
                    listOf(Effect.ScheduleRetry(1)),
                    policy,
                ),
                Row(
                    "after the user's own disconnect() the default decision does not reconnect",
                    Phase.Disconnected(0, retryScheduled = false),
                    Event.Decided(Decision.Default, userClosed = true, last = lost),
                    Phase.Disconnected(0, retryScheduled = false),
                    policy = policy,
                ),
                Row(
                    "an explicit Reconnect decision reconnects even without a policy",
                    Phase.Disconnected(0, retryScheduled = false),
                    Event.Decided(Decision.Reconnect(), userClosed = true, last = lost),
                    Phase.Disconnected(1, retryScheduled = true),
                    listOf(Effect.ScheduleRetry(0)),
                ),
                Row(
                    "the default decision after a fatal reason stays down although a policy is configured",
                    Phase.Disconnected(1, retryScheduled = false),
                    Event.Decided(Decision.Default, userClosed = false, last = unauthorized, recovery = Recovery.Fatal),
                    Phase.Disconnected(1, retryScheduled = false),
                    policy = policy,
                ),
                Row(
                    "an explicit Reconnect decision overrides a fatal verdict",
                    Phase.Disconnected(1, retryScheduled = false),
                    Event.Decided(
                        Decision.Reconnect(),
                        userClosed = false,
                        last = unauthorized,
                        recovery = Recovery.Fatal,
                    ),
                    Phase.Disconnected(2, retryScheduled = true),
                    listOf(Effect.ScheduleRetry(1)),
                    policy,
                ),
                Row(
                    "a recoverable verdict with a Retry-After schedules the retry no sooner than it",
                    Phase.Disconnected(0, retryScheduled = false),
                    Event.Decided(Decision.Default, false, lost, Recovery.Recoverable(retryAfter = 7.seconds)),
                    Phase.Disconnected(1, retryScheduled = true),
                    listOf(Effect.ScheduleRetry(0, notBefore = 7.seconds)),
                    policy,
                ),
                Row(
                    "a Reconnect decision with its own delay schedules exactly that, and still counts the attempt",
                    Phase.Disconnected(2, retryScheduled = false),
                    Event.Decided(Decision.Reconnect(after = 3.seconds), userClosed = false, last = lost),
                    Phase.Disconnected(3, retryScheduled = true),
                    listOf(Effect.ScheduleRetry(2, chosen = 3.seconds)),
                    policy,
                ),
                Row(
                    "a Reconnect decision with its own delay still gives up at maxRetries",
                    Phase.Disconnected(3, retryScheduled = false),
                    Event.Decided(Decision.Reconnect(after = 3.seconds), userClosed = false, last = lost),
                    Phase.Stopped(StopReason.RetriesExhausted(3, lost)),
                    listOf(Effect.Terminate(StopReason.RetriesExhausted(3, lost))),
                    policy,
                ),
                Row(
                    "StayDisconnected overrides the policy",
                    Phase.Disconnected(0, retryScheduled = false),
                    Event.Decided(Decision.Stay, userClosed = false, last = lost),
                    Phase.Disconnected(0, retryScheduled = false),
                    policy = policy,
                ),
                Row(
                    "reaching maxRetries stops with RetriesExhausted",
                    Phase.Disconnected(3, retryScheduled = false),
                    Event.Decided(Decision.Default, userClosed = false, last = lost),
                    Phase.Stopped(StopReason.RetriesExhausted(3, lost)),
                    listOf(Effect.Terminate(StopReason.RetriesExhausted(3, lost))),
                    policy,
                ),
                Row(
                    "nothing moves a stopped client",
                    Phase.Stopped(StopReason.Requested),
                    Event.ConnectRequested,
                    null,
                ),
                Row("a connect while connecting is ignored", Phase.Connecting(0), Event.ConnectRequested, null),
                Row(
                    "a connect during the close handshake is remembered, not refused",
                    Phase.Closing(2, userClose),
                    Event.ConnectRequested,
                    Phase.Closing(2, userClose, connectAfter = true),
                ),
                Row(
                    "a disconnect during the close handshake cancels a connect asked for meanwhile",
                    Phase.Closing(2, userClose, connectAfter = true),
                    Event.CloseRequested(userClose),
                    Phase.Closing(2, userClose),
                ),
                Row(
                    "the handshake's end keeps the connect waiters of a connect asked for meanwhile",
                    Phase.Closing(0, userClose, connectAfter = true),
                    Event.PeerClosed(1000, ""),
                    Phase.Disconnected(0, deciding = true, connectNext = true),
                    listOf(
                        Effect.FailQueued(acknowledgedBye),
                        Effect.ReleaseTransport,
                        Effect.CallOnDisconnect(acknowledgedBye, true),
                    ),
                ),
                Row(
                    "once onDisconnect has answered, a connect asked for during the handshake connects",
                    Phase.Disconnected(0, deciding = true, connectNext = true),
                    Event.Decided(Decision.Stay, userClosed = true, last = acknowledgedBye),
                    Phase.Connecting(0),
                    listOf(Effect.OpenTransport),
                ),
                Row(
                    "onDisconnect answering Stop stops the client, whatever the policy",
                    Phase.Disconnected(1, deciding = true),
                    Event.Decided(Decision.Stop("bye"), userClosed = false, last = lost),
                    Phase.Stopped(StopReason.ByHandler("bye")),
                    listOf(Effect.Terminate(StopReason.ByHandler("bye"))),
                    policy,
                ),
                Row(
                    "an abort while connected drops the socket without a close frame",
                    Phase.Connected(0),
                    Event.StopRequested(StopReason.Aborted, abort = true),
                    Phase.Stopped(StopReason.Aborted),
                    listOf(Effect.AbortTransport, Effect.Terminate(StopReason.Aborted)),
                ),
                Row(
                    "an abort during the close handshake drops the socket at once",
                    Phase.Closing(0, userClose),
                    Event.StopRequested(StopReason.Aborted, abort = true),
                    Phase.Stopped(StopReason.Aborted),
                    listOf(Effect.AbortTransport, Effect.Terminate(StopReason.Aborted)),
                ),
                Row(
                    "a disconnect while down also forgets a connect asked for during the handshake",
                    Phase.Disconnected(0, deciding = true, connectNext = true),
                    Event.CloseRequested(userClose),
                    Phase.Disconnected(0, deciding = true),
                ),
            )

        for (row in rows) {
            test(row.name) {
                val step = transition(row.phase, row.event, row.policy)
                if (row.next == null) {
                    step.shouldBeNull()
                } else {
                    step?.next shouldBe row.next
                    step?.effects shouldBe row.effects
                }
            }
        }
    })
