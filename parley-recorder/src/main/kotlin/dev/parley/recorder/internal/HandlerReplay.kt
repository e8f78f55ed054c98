package dev.parley.recorder.internal

import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.FrameKind
import dev.parley.HandlerAction
import dev.parley.InitResult
import dev.parley.ParleyHandler
import dev.parley.WireDirection
import dev.parley.recorder.RecordedConnect
import dev.parley.recorder.RecordedDisconnect
import dev.parley.recorder.RecordedEntry
import dev.parley.recorder.RecordedFrame
import dev.parley.recorder.ReplayPace
import dev.parley.recorder.ReplayResult
import dev.parley.recorder.ReplayedPush
import kotlinx.coroutines.delay
import java.io.IOException
import java.time.Duration
import kotlin.time.toKotlinDuration

/** One replay of recorded entries into a handler; see [dev.parley.recorder.Recording.replay]. */
internal class HandlerReplay(
    private val entries: List<RecordedEntry>,
    private val pace: ReplayPace,
) {
    private val pushed = ArrayList<ReplayedPush>()
    private var callbacks = 0
    private var stopped = false

    /** The connection a handler's Disconnect ended early: its remaining entries are skipped. */
    private var skipping = 0L

    suspend fun <S> run(handler: ParleyHandler<S>, initial: S): ReplayResult<S> {
        callbacks++
        var state =
            when (val init = handler.init(initial)) {
                is InitResult.Init -> init.state
                is InitResult.Stop -> return ReplayResult(initial, pushed, callbacks, stopped = true)
            }
        var previous: RecordedEntry? = null
        for (entry in entries) {
            if (stopped) break
            if (pace == ReplayPace.REAL_TIME && previous != null) {
                val gap = Duration.between(previous.at, entry.at)
                if (!gap.isNegative) delay(gap.toKotlinDuration())
            }
            previous = entry
            if (entry.connection == skipping && entry.connection != 0L) continue
            state =
                when (entry) {
                    is RecordedConnect -> act(handler, entry.connection, state) { handler.onConnect(it) }
                    is RecordedFrame -> delivered(handler, entry, state)
                    is RecordedDisconnect -> disconnected(handler, reasonOf(entry), state)
                    else -> state
                }
        }
        return ReplayResult(state, pushed, callbacks, stopped)
    }

    private suspend fun <S> delivered(handler: ParleyHandler<S>, frame: RecordedFrame, state: S): S {
        if (frame.direction != WireDirection.INBOUND) return state
        return when (frame.kind) {
            FrameKind.TEXT, FrameKind.BINARY -> act(handler, frame.connection, state) {
                handler.onFrame(frame.toFrame()!!, it)
            }

            FrameKind.PING -> act(handler, frame.connection, state) { handler.onPing(frame.payload(), it) }

            FrameKind.PONG -> act(handler, frame.connection, state) { handler.onPong(frame.payload(), it) }

            // The connection's end is its disconnect entry, which follows.
            FrameKind.CLOSE -> state
        }
    }

    private suspend fun <S> act(
        handler: ParleyHandler<S>,
        connection: Long,
        state: S,
        callback: suspend (S) -> HandlerAction<S>,
    ): S {
        callbacks++
        var action = callback(state)
        // A Later's own state is the one the next callbacks get; the result's state is ignored, as in a client.
        val later = action as? HandlerAction.Later
        if (later != null) action = later.result.await()
        val next = later?.state ?: action.state
        when (action) {
            is HandlerAction.Push -> action.frames.mapTo(pushed) { ReplayedPush(connection, it) }

            is HandlerAction.Disconnect -> {
                skipping = connection
                return disconnected(handler, DisconnectReason.ByHandler(action.reason, action.closeCode, true), next)
            }

            is HandlerAction.Stop -> stopped = true

            else -> {}
        }
        return next
    }

    private suspend fun <S> disconnected(handler: ParleyHandler<S>, reason: DisconnectReason, state: S): S {
        callbacks++
        val decision = handler.onDisconnect(reason, state)
        if (decision is DisconnectDecision.Stop) stopped = true
        return decision.state
    }

    private fun reasonOf(entry: RecordedDisconnect): DisconnectReason = when (entry.reason) {
        "ClosedByPeer" -> DisconnectReason.ClosedByPeer(entry.closeCode ?: 1005, entry.closeReason.orEmpty())
        "ClosedLocally" -> DisconnectReason.ClosedLocally(entry.closeCode ?: 1000, entry.closeReason.orEmpty(), true)
        else -> DisconnectReason.TransportFailed(IOException("recorded ${entry.reason}: ${entry.explanation}"))
    }
}
