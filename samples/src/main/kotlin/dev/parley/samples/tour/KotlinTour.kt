package dev.parley.samples.tour

import dev.parley.*
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlin.time.Duration.Companion.seconds

// Your side of the connection: suspending callbacks, called one at a time, with your state threaded through.
class Ticker : ParleyHandler<Int> {
    override suspend fun onConnect(state: Int) =
        HandlerAction.Push(Frame.Text("""{"subscribe":"prices"}"""), state)   // written before anything queued

    override suspend fun onFrame(frame: Frame, state: Int): HandlerAction<Int> {
        if (frame is Frame.Text) println("tick ${state + 1}: ${frame.text}")
        return HandlerAction.Ok(state + 1)
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Int): DisconnectDecision<Int> {
        println("down: $reason")                       // typed: ClosedByPeer(code, reason), TransportFailed(cause), …
        return DisconnectDecision.Default(state)       // follow the reconnect policy
    }
}

suspend fun main() = coroutineScope {
    val options = parleyOptions {
        url = "wss://example.com/feed?channel=prices"
        header("Authorization", "Bearer …")           // redacted in logs and toString()
        subprotocols += "v1.prices"
        connectTimeout = 10.seconds                    // DNS + TCP + TLS + upgrade together
        reconnect { baseDelay = 1.seconds; maxDelay = 30.seconds; maxRetries = 20 }
    }
    // Linked to this scope: cancelling the scope stops the client; a handler that throws fails the scope.
    val client = startParley(Ticker(), 0, options)   // returns at once; connects in the background

    val watcher = launch { client.state.collect { println("state: $it") } }  // Connecting, Connected, Disconnected, …

    client.send(Frame.Text("hello"))                // queued while connecting; returns once written to the socket
    when (val r = client.trySend(Frame.Text("fire and forget"))) {
        is SendResult.Enqueued -> r.written.invokeOnCompletion { e -> if (e != null) println("not sent: $e") }
        is SendResult.Rejected -> println("not queued: ${r.cause}")
    }
    client.tell("refresh")                          // reaches onInfo on the client's coroutine, in every state

    client.disconnect(1000, "bye")                  // close handshake; stays alive and does not reconnect by itself
    client.connect()                                // …until asked; suspends until Connected
    client.stop()                                   // terminal
    watcher.cancel()                                // a StateFlow never completes: end the collector, or main waits
}
