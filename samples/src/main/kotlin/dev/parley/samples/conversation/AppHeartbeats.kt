package dev.parley.samples.conversation

import dev.parley.AppHeartbeat
import dev.parley.Frame
import dev.parley.ParleyOptions
import dev.parley.jsonrpc.JsonRpc
import dev.parley.parleyOptions
import kotlin.time.Duration.Companion.seconds

/** Deribit-style: public/test calls as pings, test_request answered by Parley itself. */
fun deribitOptions(): ParleyOptions = parleyOptions {
    url = "wss://exchange.example.com/ws/api/v2"
    heartbeat {
        interval = 10.seconds
        pongTimeout = 5.seconds
        app = JsonRpc.heartbeat("public/test")
    }
    reconnect()
}

/** A protocol of your own: `{"op":"ping","n":7}` answered by `{"op":"pong","n":7}`. */
object OpPing : AppHeartbeat {
    override fun ping(sequence: Long) = Frame.Text("""{"op":"ping","n":$sequence}""")

    override fun pongSequence(frame: Frame): Long? = (frame as? Frame.Text)?.text
        ?.takeIf { it.startsWith("""{"op":"pong","n":""") }
        ?.removePrefix("""{"op":"pong","n":""")?.removeSuffix("}")?.toLongOrNull()
}
