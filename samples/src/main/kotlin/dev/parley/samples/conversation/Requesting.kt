package dev.parley.samples.conversation

import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.Requests
import dev.parley.UnmatchedReply
import dev.parley.jsonrpc.JsonRpc
import dev.parley.jsonrpc.call
import dev.parley.parleyOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.async
import kotlin.time.Duration.Companion.seconds

class Exchange {
    /** Matches replies by their JSON-RPC id; one Requests serves one client. */
    val rpc = Requests(JsonRpc.codec(), timeout = 10.seconds)

    val options: ParleyOptions = parleyOptions {
        url = "wss://exchange.example.com/ws/api/v2"
        reconnect()
        layer(rpc)
    }

    /** The result as JSON text; a JSON-RPC error is a JsonRpcErrorException. The reply never reaches onFrame. */
    suspend fun serverTime(): String = rpc.call("public/get_time")
}

/** Inside a callback, do not wait for a reply: requestAsync, and let the client read on meanwhile. */
class Ticker(private val exchange: Exchange, private val scope: CoroutineScope) : ParleyHandler<Unit> {
    override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> {
        if (message is UnmatchedReply) {
            println("a reply nobody waited for (late: ${message.late}): ${message.frame}")
            return HandlerAction.Ok(state)
        }
        val request = JsonRpc.request("public/ticker", """{"instrument_name":"$message"}""")
        val reply = exchange.rpc.requestAsync(Frame.Text(request))
        return HandlerAction.Later(scope.async { HandlerAction.Push(Frame.Text("got ${reply.await()}"), state) }, state)
    }
}
