package dev.parley.java

import dev.parley.CloseCodes
import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.LatencyStats
import dev.parley.ParleyEvent
import dev.parley.ParleyMetrics
import dev.parley.StopReason
import kotlin.time.toJavaDuration

/** Java views of the core's Kotlin types: plain classes with enums, `java.time.Duration` and `int` codes. */
internal object ParleyStates {
    val NOT_STARTED = ParleyState(ParleyState.Kind.DISCONNECTED, null, null, 0, null, emptyMap(), null, null, null)
}

internal fun ConnectionState.toJava(): ParleyState = when (this) {
    is ConnectionState.Disconnected ->
        ParleyState(
            ParleyState.Kind.DISCONNECTED,
            reason?.toJava(),
            nextAttemptIn?.toJavaDuration(),
            failedAttempts,
            null,
            emptyMap(),
            null,
            null,
            null,
        )

    is ConnectionState.Connecting ->
        ParleyState(ParleyState.Kind.CONNECTING, null, null, attempt, null, emptyMap(), null, null, null)

    is ConnectionState.Connected ->
        ParleyState(ParleyState.Kind.CONNECTED, null, null, 0, subprotocol, responseHeaders, null, null, null)

    is ConnectionState.Stopped -> {
        val (kind, value, cause) =
            when (val r = reason) {
                StopReason.Requested, is StopReason.Cancelled -> Triple(ParleyState.StopKind.REQUESTED, null, null)

                is StopReason.ByHandler -> Triple(ParleyState.StopKind.BY_LISTENER, r.reason, null)

                is StopReason.HandlerFailed -> Triple(ParleyState.StopKind.LISTENER_FAILED, null, r.cause)

                is StopReason.RetriesExhausted ->
                    Triple(
                        ParleyState.StopKind.RETRIES_EXHAUSTED,
                        null,
                        dev.parley.RetriesExhaustedException(r.attempts, r.last),
                    )
            }
        ParleyState(ParleyState.Kind.STOPPED, null, null, 0, null, emptyMap(), kind, value, cause)
    }
}

internal fun DisconnectReason.toJava(): DisconnectInfo {
    val none = CloseCodes.ABNORMAL
    fun info(
        kind: DisconnectInfo.Kind,
        code: Int = none,
        closeReason: String = "",
        acknowledged: Boolean = false,
        listenerReason: Any? = null,
        status: Int = 0,
        headers: Map<String, List<String>> = emptyMap(),
        cause: Throwable? = null,
    ) = DisconnectInfo(kind, code, closeReason, acknowledged, listenerReason, status, headers, toString(), cause)
    return when (this) {
        is DisconnectReason.ClosedLocally -> info(DisconnectInfo.Kind.CLOSED_LOCALLY, code, reason, acknowledged)

        is DisconnectReason.ClosedByPeer -> info(DisconnectInfo.Kind.CLOSED_BY_PEER, code, reason, acknowledged = true)

        is DisconnectReason.ByHandler ->
            info(DisconnectInfo.Kind.BY_LISTENER, closeCode, acknowledged = acknowledged, listenerReason = reason)

        is DisconnectReason.ConnectFailed -> info(DisconnectInfo.Kind.CONNECT_FAILED, cause = cause)

        is DisconnectReason.HandshakeRejected ->
            info(DisconnectInfo.Kind.HANDSHAKE_REJECTED, status = status, headers = headers)

        is DisconnectReason.ConnectTimedOut -> info(DisconnectInfo.Kind.CONNECT_TIMEOUT)

        is DisconnectReason.ProtocolViolation -> info(DisconnectInfo.Kind.PROTOCOL_VIOLATION, closeCode)

        is DisconnectReason.MessageTooBig -> info(DisconnectInfo.Kind.MESSAGE_TOO_BIG, CloseCodes.MESSAGE_TOO_BIG)

        is DisconnectReason.TransportFailed -> info(DisconnectInfo.Kind.TRANSPORT_FAILED, cause = cause)

        is DisconnectReason.HeartbeatTimedOut -> info(DisconnectInfo.Kind.HEARTBEAT_TIMEOUT)
    }
}

internal fun ParleyMetrics.toJava(): ConnectionMetrics = ConnectionMetrics(
    state.toJava(),
    timeInState.toJavaDuration(),
    connectedSince,
    reconnectAttempts,
    totalReconnects,
    framesSent,
    bytesSent,
    framesReceived,
    bytesReceived,
    sendQueueDepth,
    sendQueueCapacity,
    missedPongs,
    lastDisconnectReason?.toJava(),
    latency.toJava(),
)

private fun LatencyStats.toJava(): ConnectionMetrics.Latency = ConnectionMetrics.Latency(
    count,
    total.toJavaDuration(),
    last?.toJavaDuration(),
    min?.toJavaDuration(),
    p50?.toJavaDuration(),
    p90?.toJavaDuration(),
    p99?.toJavaDuration(),
    max?.toJavaDuration(),
)

internal fun ParleyEvent.toJava(): ParleyEventInfo {
    fun info(
        kind: ParleyEventInfo.Kind,
        attempt: Int = 0,
        delay: java.time.Duration? = null,
        disconnect: DisconnectInfo? = null,
        cause: Throwable? = null,
    ) = ParleyEventInfo(kind, attempt, delay, disconnect, cause)
    return when (this) {
        is ParleyEvent.Connecting -> info(ParleyEventInfo.Kind.CONNECTING, attempt)

        is ParleyEvent.Connected -> info(ParleyEventInfo.Kind.CONNECTED)

        is ParleyEvent.Disconnected -> info(ParleyEventInfo.Kind.DISCONNECTED, disconnect = reason.toJava())

        is ParleyEvent.ReconnectScheduled ->
            info(ParleyEventInfo.Kind.RECONNECT_SCHEDULED, attempt, delay.toJavaDuration())

        is ParleyEvent.HeartbeatTimedOut -> info(
            ParleyEventInfo.Kind.HEARTBEAT_TIMEOUT,
            delay = pongTimeout.toJavaDuration(),
        )

        is ParleyEvent.FrameDropped -> info(ParleyEventInfo.Kind.FRAME_DROPPED, cause = cause)

        is ParleyEvent.HandlerFailed -> info(ParleyEventInfo.Kind.LISTENER_FAILED, cause = cause)

        is ParleyEvent.Stopped -> info(ParleyEventInfo.Kind.STOPPED)
    }
}
