package dev.parley.internal

import dev.parley.ClientLayer
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.InitResult
import dev.parley.ParleyHandler
import dev.parley.StopReason

/**
 * The handler the loop calls when the options hold [layers]: each event goes through the layers, in order, before
 * [handler]. This is all a layer is to the client: a decorator of its handler, outside the state machine.
 */
internal class LayeredHandler<S>(
    private val handler: ParleyHandler<S>,
    private val layers: List<ClientLayer>,
) : ParleyHandler<S>,
    StopAware {
    override suspend fun init(initial: S): InitResult<S> = handler.init(initial)

    override suspend fun onConnect(state: S): HandlerAction<S> {
        for (layer in layers) layer.onConnect()
        return handler.onConnect(state)
    }

    override suspend fun onFrame(frame: Frame, state: S): HandlerAction<S> {
        // Pongs reach onFrame through the default onPong; they are not messages a layer looks at.
        if (frame is Frame.Text || frame is Frame.Binary) {
            for (layer in layers) if (layer.onFrame(frame)) return HandlerAction.Ok(state)
        }
        return handler.onFrame(frame, state)
    }

    override suspend fun onPing(payload: ByteArray, state: S): HandlerAction<S> = handler.onPing(payload, state)

    override suspend fun onPong(payload: ByteArray, state: S): HandlerAction<S> = handler.onPong(payload, state)

    override suspend fun onInfo(message: Any, state: S): HandlerAction<S> = handler.onInfo(message, state)

    override suspend fun onDisconnect(reason: DisconnectReason, state: S): DisconnectDecision<S> {
        for (layer in layers) layer.onDisconnect(reason)
        return handler.onDisconnect(reason, state)
    }

    override fun stopped(reason: StopReason) {
        // Every layer hears it, even if one throws: each holds callers to answer.
        var failure: Throwable? = null
        for (layer in layers) {
            try {
                layer.onStop(reason)
            } catch (e: Throwable) {
                failure?.addSuppressed(e) ?: run { failure = e }
            }
        }
        (handler as? StopAware)?.stopped(reason)
        failure?.let { throw it }
    }
}
