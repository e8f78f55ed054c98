package dev.parley.java.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.ParleyHandler
import dev.parley.UnmatchedReply
import dev.parley.java.DisconnectInfo
import dev.parley.java.ParleyListener
import dev.parley.java.ReconnectDecision
import dev.parley.java.Reply
import kotlinx.coroutines.CompletableDeferred
import java.nio.ByteBuffer
import kotlin.time.toKotlinDuration

/**
 * The core handler behind a [ParleyListener]: every listener callback runs on [callbacks], so callbacks never overlap
 * and run in the order the core called the handler; what a callback asks of its [Reply] becomes the core's action.
 *
 * When the client's loop itself runs on [callbacks] ([inline]; the facade does this with its default executor), every
 * callback is called right there, as a Kotlin handler is: no hand-off to another thread per message. Otherwise (an
 * executor of the user's, such as Android's main thread) callbacks are handed over:
 * - The message callbacks (`onText`, `onBinary`, `onPing`, `onPong`, `onInfo`) are answered with
 *   [HandlerAction.Later]: the core reads on while they run (up to its `maxPendingCallbacks`), carries out their
 *   replies in order, and stops with the listener's very exception if one throws.
 * - `onConnect` and `onDisconnect` are waited for: onConnect's replies precede frames queued while connecting, and
 *   onDisconnect's answer is the reconnect decision.
 *
 * Once the client is stopping ([skipRemaining]) or a listener has thrown, message callbacks not started yet are
 * skipped.
 */
internal class ListenerHandler(
    private val listener: ParleyListener,
    private val callbacks: SerialExecutor,
    private val inline: Boolean,
    private val disconnectInfo: (DisconnectReason) -> DisconnectInfo,
) : ParleyHandler<Unit> {
    @Volatile
    private var skipping = false

    /** The client is stopping: message callbacks not started yet are skipped. */
    fun skipRemaining() {
        skipping = true
    }

    override suspend fun onConnect(state: Unit): HandlerAction<Unit> = onCallbackThread {
        val reply = CollectingReply()
        try {
            listener.onConnect(reply)
        } finally {
            reply.valid = false
        }
        reply.action()
    }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> = later { reply ->
        when (frame) {
            is Frame.Text -> listener.onText(reply, frame.text)
            is Frame.Binary -> listener.onBinary(reply, ByteBuffer.wrap(frame.bytes).asReadOnlyBuffer())
            is Frame.Pong -> listener.onPong(reply, ByteBuffer.wrap(frame.payload).asReadOnlyBuffer())
            is Frame.Ping -> listener.onPing(reply, ByteBuffer.wrap(frame.payload).asReadOnlyBuffer())
        }
    }

    override suspend fun onPing(payload: ByteArray, state: Unit): HandlerAction<Unit> =
        later { listener.onPing(it, ByteBuffer.wrap(payload).asReadOnlyBuffer()) }

    override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> = later {
        if (message is UnmatchedReply) {
            listener.onUnmatchedReply(it, message.id.toString(), message.frame.text(), message.late)
        } else {
            listener.onInfo(it, message)
        }
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
        val decision = onCallbackThread { listener.onDisconnect(disconnectInfo(reason)) } ?: ReconnectDecision.DEFAULT
        return when (decision.kind()) {
            ReconnectDecision.Kind.DEFAULT -> DisconnectDecision.Default(Unit)
            ReconnectDecision.Kind.RECONNECT -> DisconnectDecision.Reconnect(Unit, decision.delay()?.toKotlinDuration())
            ReconnectDecision.Kind.STAY_DISCONNECTED -> DisconnectDecision.StayDisconnected(Unit)
        }
    }

    private suspend fun <T> onCallbackThread(block: () -> T): T = if (inline) block() else callbacks.run(block)

    /** Calls [callback] here when [inline]; otherwise hands it to the executor and answers its replies later. */
    private fun later(callback: (Reply) -> Unit): HandlerAction<Unit> {
        if (inline) return if (skipping) OK else replyOf(callback)
        val result = CompletableDeferred<HandlerAction<Unit>>()
        callbacks.execute {
            if (skipping) {
                result.complete(OK)
                return@execute
            }
            try {
                result.complete(replyOf(callback))
            } catch (e: Throwable) {
                result.completeExceptionally(e)
            }
        }
        return HandlerAction.Later(result, Unit)
    }

    /** Runs [callback] and returns what it replied; a Stop or a throw skips the message callbacks after it. */
    private fun replyOf(callback: (Reply) -> Unit): HandlerAction<Unit> {
        val reply = CollectingReply()
        try {
            callback(reply)
            return reply.action().also { if (it is HandlerAction.Stop) skipping = true }
        } catch (e: Throwable) {
            skipping = true
            throw e
        } finally {
            reply.valid = false
        }
    }
}

/** Collects what a callback asked for, to be carried out when it returns. */
private class CollectingReply : Reply {
    @Volatile
    var valid = true

    /** Made on the first reply: most callbacks reply nothing. */
    private var frames: ArrayList<Frame>? = null
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

    /** The core action: the ending if any (it replaces replied frames), else the frames, else nothing. */
    fun action(): HandlerAction<Unit> = ending ?: frames?.let { HandlerAction.Push(it, Unit) } ?: OK

    private fun push(frame: Frame): Reply {
        checkValid()
        (frames ?: ArrayList<Frame>(2).also { frames = it }) += frame
        return this
    }

    private fun checkValid() = check(valid) { "a Reply is only valid during the callback that received it" }
}

private val OK = HandlerAction.Ok(Unit)

/** A data frame's text; a binary one decoded as UTF-8 (a reply in a binary frame, say). */
internal fun Frame.text(): String = when (this) {
    is Frame.Text -> text
    is Frame.Binary -> String(bytes, Charsets.UTF_8)
    is Frame.Ping -> String(payload, Charsets.UTF_8)
    is Frame.Pong -> String(payload, Charsets.UTF_8)
}

/** The buffer's remaining bytes, copied without moving the caller's position. */
internal fun ByteBuffer.copyRemaining(): ByteArray = ByteArray(remaining()).also { duplicate().get(it) }
