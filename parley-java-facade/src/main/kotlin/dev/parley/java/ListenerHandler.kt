package dev.parley.java

import dev.parley.CloseCodes
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.ParleyHandler
import java.nio.ByteBuffer

/**
 * The core handler behind a [ParleyListener]: each callback runs on the client's [SerialExecutor] while the core
 * waits, so callbacks stay sequential and in order, and what the listener replied becomes the core's action.
 */
internal class ListenerHandler(
    private val listener: ParleyListener,
    private val callbacks: SerialExecutor,
) : ParleyHandler<Unit> {
    override suspend fun onConnect(state: Unit): HandlerAction<Unit> = replying { listener.onConnect(it) }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> = replying { reply ->
        when (frame) {
            is Frame.Text -> listener.onText(reply, frame.text)
            is Frame.Binary -> listener.onBinary(reply, ByteBuffer.wrap(frame.bytes).asReadOnlyBuffer())
            is Frame.Pong -> listener.onPong(reply, ByteBuffer.wrap(frame.payload).asReadOnlyBuffer())
            is Frame.Ping -> listener.onPing(reply, ByteBuffer.wrap(frame.payload).asReadOnlyBuffer())
        }
    }

    override suspend fun onPing(payload: ByteArray, state: Unit): HandlerAction<Unit> =
        replying { listener.onPing(it, ByteBuffer.wrap(payload).asReadOnlyBuffer()) }

    override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> =
        replying { listener.onInfo(it, message) }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> =
        when (callbacks.run { listener.onDisconnect(reason.toJava()) } ?: ReconnectDecision.DEFAULT) {
            ReconnectDecision.DEFAULT -> DisconnectDecision.Default(Unit)
            ReconnectDecision.RECONNECT -> DisconnectDecision.Reconnect(Unit)
            ReconnectDecision.STAY_DISCONNECTED -> DisconnectDecision.StayDisconnected(Unit)
        }

    private suspend fun replying(callback: (Reply) -> Unit): HandlerAction<Unit> {
        val reply = CollectingReply()
        try {
            callbacks.run { callback(reply) }
        } finally {
            reply.valid = false
        }
        return reply.action()
    }
}

/** Collects what a callback asked for; turned into one core action when the callback returns. */
private class CollectingReply : Reply {
    @Volatile
    var valid = true
    private val frames = mutableListOf<Frame>()
    private var ending: HandlerAction<Unit>? = null

    override fun sendText(text: String): Reply = push(Frame.Text(text))

    override fun sendBinary(data: ByteArray): Reply = push(Frame.Binary(data))

    override fun sendBinary(data: ByteBuffer): Reply = push(Frame.Binary(data.copyRemaining()))

    override fun sendPing(payload: ByteArray): Reply = push(Frame.Ping(payload))

    override fun disconnect(code: Int, reason: Any?) {
        checkValid()
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        ending = HandlerAction.Disconnect(reason, Unit, code)
    }

    override fun stop(reason: Any?) {
        checkValid()
        ending = HandlerAction.Stop(reason, Unit)
    }

    fun action(): HandlerAction<Unit> =
        ending ?: if (frames.isEmpty()) HandlerAction.Ok(Unit) else HandlerAction.Push(frames.toList(), Unit)

    private fun push(frame: Frame): Reply {
        checkValid()
        frames += frame
        return this
    }

    private fun checkValid() = check(valid) { "a Reply is only valid during the callback that received it" }
}
