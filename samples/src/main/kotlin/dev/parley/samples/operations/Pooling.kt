package dev.parley.samples.operations

import dev.parley.Frame
import dev.parley.Parley
import dev.parley.ParleyPool
import dev.parley.PoolMember
import dev.parley.Requests
import dev.parley.jsonrpc.JsonRpc
import dev.parley.parleyOptions
import kotlin.time.Duration.Companion.seconds

/** Four connections to one exchange, each with its own requests and a heartbeat that shows when its server stalls. */
fun exchangePool(): ParleyPool =
    ParleyPool.start(size = 4, endpoints = listOf("wss://exchange.example.com/ws/api/v2")) { index, endpoint ->
        val requests = Requests(JsonRpc.codec(), timeout = 5.seconds)
        val options = parleyOptions {
            url = endpoint
            name = "exchange-$index"
            heartbeat {
                interval = 5.seconds
                pongTimeout = 10.seconds
            }
            layer(requests)
        }
        PoolMember(Parley.start(options), requests)
    }

suspend fun quoteAndPing(pool: ParleyPool): String {
    // A request goes to the healthiest member and stays there: it is never sent twice.
    val ticker = (
        pool.request(
            Frame.Text(JsonRpc.request("public/ticker", """{"instrument":"BTC-PERP"}""")),
        ) as Frame.Text
        )
    // Safe to receive twice, so a copy lost with its connection is sent again through another member.
    pool.send(Frame.Text(JsonRpc.request("public/test")), idempotent = true)
    return ticker.text
}
