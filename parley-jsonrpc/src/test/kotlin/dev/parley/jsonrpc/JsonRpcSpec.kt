package dev.parley.jsonrpc

import dev.parley.ConnectionClosedException
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.ParleyEvent
import dev.parley.Requests
import dev.parley.SubscriptionReply
import dev.parley.SubscriptionState
import dev.parley.Subscriptions
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.withRecordedClient
import dev.parley.testing.ScriptedWsPeer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/*
 * JSON-RPC 2.0 through Requests: the codec's rules on their own, then calls against npm ws's JSON-RPC server
 * (.ci/peers/ws-peer.js, /jsonrpc), which answers in its own time and order.
 */
class JsonRpcSpec :
    FunSpec({
        context("the subscription codec") {
            val codec = JsonRpc.subscriptions()

            test("each channel is a call of its own, with an id its reply is known by") {
                (codec.subscribe("book.ETH") as Frame.Text).text shouldBe
                    """{"jsonrpc":"2.0","id":"sub:book.ETH","method":"public/subscribe","params":{"channels":["book.ETH"]}}"""
                codec.confirmation(
                    Frame.Text("""{"jsonrpc":"2.0","id":"sub:book.ETH","result":["book.ETH"]}"""),
                ) shouldBe
                    SubscriptionReply.Confirmed(listOf("book.ETH"))
                codec.confirmation(Frame.Text("""{"id":"sub:book.ETH","result":[]}""")) shouldBe
                    SubscriptionReply.Refused(listOf("book.ETH"), "the server's answer did not list it")
                codec.confirmation(Frame.Text("""{"id":"unsub:book.ETH","result":["book.ETH"]}""")) shouldBe
                    SubscriptionReply.Unsubscribed(listOf("book.ETH"))
                // Data on the channel, and other replies, are not confirmations.
                codec.confirmation(Frame.Text("""{"method":"subscription","params":{"channel":"book.ETH"}}""")) shouldBe
                    null
                codec.confirmation(Frame.Text("""{"id":7,"result":["sub:x"]}""")) shouldBe null
            }
        }

        context("the codec") {
            val codec = JsonRpc.codec()

            test("a request without an id gets the next number; one with an id keeps it") {
                val first = codec.stamp(Frame.Text(JsonRpc.request("public/get_time")))
                first.id shouldBe "1"
                (first.frame as Frame.Text).text shouldBe """{"jsonrpc":"2.0","method":"public/get_time","id":1}"""
                codec.stamp(Frame.Text(JsonRpc.request("a", """{"x":1}"""))).id shouldBe "2"
                codec.stamp(Frame.Text("""{"jsonrpc":"2.0","id":"abc","method":"m"}""")).id shouldBe "\"abc\""
            }

            test("what cannot be a request is refused, saying why") {
                shouldThrow<IllegalArgumentException> { codec.stamp(Frame.Text("[1,2]")) }.message shouldContain
                    "JSON object"
                shouldThrow<IllegalArgumentException> { codec.stamp(Frame.Binary(byteArrayOf(1))) }
                shouldThrow<IllegalArgumentException> { codec.stamp(Frame.Text("""{"id":{"no":1}}""")) }
                shouldThrow<IllegalArgumentException> { JsonRpc.request("m", "not json") }
                shouldThrow<IllegalArgumentException> { JsonRpc.request("m", "42") }
            }

            test("a reply is an object with an id and a result or an error, and no method") {
                codec.replyId(Frame.Text("""{"jsonrpc":"2.0","id":7,"result":{}}""")) shouldBe "7"
                codec.replyId(Frame.Text("""{"jsonrpc":"2.0","id":"7","error":{"code":1}}""")) shouldBe "\"7\""
                // A server's own request, a notification, a malformed or a binary message: not replies.
                codec.replyId(Frame.Text("""{"jsonrpc":"2.0","id":3,"method":"test_request"}""")) shouldBe null
                codec.replyId(Frame.Text("""{"jsonrpc":"2.0","method":"subscription","params":{}}""")) shouldBe null
                codec.replyId(Frame.Text("""{"id": 7, "result": """)) shouldBe null
                codec.replyId(Frame.Text("""{"jsonrpc":"2.0","id":null,"error":{"code":-32700}}""")) shouldBe null
                codec.replyId(Frame.Binary("""{"id":1,"result":1}""".toByteArray())) shouldBe null
            }

            test("a reply's result or error is read") {
                JsonRpc.reply("""{"jsonrpc":"2.0","id":1,"result":[1,2]}""").result shouldBe "[1,2]"
                val error = JsonRpc.reply("""{"id":1,"error":{"code":-32601,"message":"Method not found"}}""")
                error.isError shouldBe true
                error.errorCode shouldBe -32601
                error.errorMessage shouldBe "Method not found"
                shouldThrow<IllegalArgumentException> { JsonRpc.reply("""{"id":1}""") }
            }
        }

        context("against npm ws's JSON-RPC server") {
            val peer = ScriptedWsPeer.npmWs()
            afterSpec { peer.close() }

            test("call returns the result, and an error is a JsonRpcErrorException with its code and data") {
                val rpc = Requests(JsonRpc.codec(), timeout = 5.seconds)
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    layer(rpc)
                }) { client, _ ->
                    client.awaitConnected()
                    rpc.call("echo", """{"instrument":"BTC-PERPETUAL"}""") shouldBe """{"instrument":"BTC-PERPETUAL"}"""
                    val error = shouldThrow<JsonRpcErrorException> { rpc.call("fail", """["why"]""") }
                    error.code shouldBe -32000
                    error.data shouldBe """["why"]"""
                    shouldThrow<JsonRpcErrorException> { rpc.call("no/such") }.code shouldBe -32601
                }
            }

            test("200 concurrent calls answered in the server's own order each get their own result") {
                val rpc = Requests(JsonRpc.codec(), timeout = 10.seconds)
                val random = Random(13)
                val delays = List(200) { random.nextInt(0, 60) }
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    layer(rpc)
                }) { client, _ ->
                    client.awaitConnected()
                    val results = coroutineScope {
                        delays.mapIndexed { i, ms -> async { rpc.call("later", """{"ms":$ms,"n":$i}""") } }.awaitAll()
                    }
                    results shouldContainExactly delays.mapIndexed { i, ms -> """{"ms":$ms,"n":$i}""" }
                    rpc.metrics().answered shouldBe 200
                }
            }

            test(
                "subscriptions: confirmed, refused with the server's message, data to the handler, restored after a drop",
            ) {
                val subscriptions = Subscriptions(JsonRpc.subscriptions())
                val rpc = Requests(JsonRpc.codec(), timeout = 5.seconds)
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    reconnect {
                        baseDelay = 10.milliseconds
                        maxDelay = 20.milliseconds
                    }
                    layer(subscriptions)
                    layer(rpc)
                }) { client, handler ->
                    subscriptions.subscribe("trades.BTC-PERPETUAL.raw")
                    subscriptions.subscribe("bad.channel")
                    handler.expect<Seen.Connected>()
                    subscriptions.states.first {
                        it == mapOf(
                            "trades.BTC-PERPETUAL.raw" to SubscriptionState.Confirmed,
                            "bad.channel" to SubscriptionState.Failed("Invalid params"),
                        )
                    }
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text(
                        """{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.raw",""" +
                            """"data":{"first":true}}}""",
                    )
                    // The server drops TCP instead of answering: the call fails, and is not sent again.
                    shouldThrow<ConnectionClosedException> { rpc.call("drop") }
                    handler.awaitSeen<Seen.Connected>()
                    subscriptions.states.first { it["trades.BTC-PERPETUAL.raw"] == SubscriptionState.Confirmed }
                    // What the new connection was asked to subscribe: the live channel, once; not the refused one.
                    rpc.call("public/subscribed") shouldBe """["trades.BTC-PERPETUAL.raw"]"""
                    subscriptions.metrics().restored shouldBe 1
                }
            }

            test("the app heartbeat pings with public/test, measures the round trip and consumes the answers") {
                val rpc = Requests(JsonRpc.codec())
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    heartbeat {
                        interval = 50.milliseconds
                        pongTimeout = 2.seconds
                        app = JsonRpc.heartbeat()
                    }
                    layer(rpc)
                }) { client, handler ->
                    handler.expect<Seen.Connected>()
                    // Three round trips, polled (bounded): events replays its latest, so counting them would not do.
                    withTimeout(5.seconds) { while (client.metrics().latency.count < 3) delay(10) }
                    val metrics = client.metrics()
                    (metrics.lastHeartbeatAnsweredAt != null) shouldBe true
                    // The answers were the heartbeat's: neither the handler nor the requests layer saw them.
                    rpc.metrics().unmatched shouldBe 0
                    generateSequence { handler.seen.tryReceive().getOrNull() }.none { it is Seen.Received } shouldBe
                        true
                }
            }

            test("a server's test_request is answered at once, and the reply to that answer is consumed") {
                val rpc = Requests(JsonRpc.codec())
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    // A long interval: the only public/test calls are answers to the server's test_request.
                    heartbeat {
                        interval = 1.minutes
                        app = JsonRpc.heartbeat()
                    }
                    layer(rpc)
                }) { _, handler ->
                    handler.expect<Seen.Connected>()
                    rpc.call("public/set_heartbeat") shouldBe "\"ok\""
                    rpc.call("public/test_count") shouldBe "1"
                    rpc.metrics().unmatched shouldBe 0
                }
            }

            test(
                "a server whose application stopped but whose WebSocket layer pings on is found dead by the app heartbeat",
            ) {
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    reconnect {
                        baseDelay = 10.milliseconds
                        maxDelay = 20.milliseconds
                    }
                    heartbeat {
                        interval = 100.milliseconds
                        pongTimeout = 300.milliseconds
                        app = JsonRpc.heartbeat()
                    }
                }) { client, handler ->
                    handler.expect<Seen.Connected>()
                    client.send(Frame.Text("""{"jsonrpc":"2.0","id":"s","method":"stall"}"""))
                    handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.HeartbeatTimedOut(300.milliseconds)
                    client.metrics().consecutiveMissedHeartbeats shouldBe 1
                    handler.awaitSeen<Seen.Connected>()
                    client.events.first { it is ParleyEvent.HeartbeatAnswered }
                    client.metrics().consecutiveMissedHeartbeats shouldBe 0
                }
            }

            test("the same stalled server passes a protocol heartbeat: its WebSocket layer still answers the pings") {
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    heartbeat {
                        interval = 100.milliseconds
                        pongTimeout = 300.milliseconds
                    }
                }) { client, handler ->
                    handler.expect<Seen.Connected>()
                    client.send(Frame.Text("""{"jsonrpc":"2.0","id":"s","method":"stall"}"""))
                    val before = client.metrics().framesReceived
                    // Its pings keep arriving (every 50 ms), and each proves life to a protocol heartbeat: polled for
                    // ten of them, bounded.
                    withTimeout(5.seconds) { while (client.metrics().framesReceived <= before + 10) delay(10) }
                    client.state.value.shouldBeInstanceOf<dev.parley.ConnectionState.Connected>()
                    client.metrics().missedPongs shouldBe 0
                }
            }

            test("a notification between request and reply reaches the handler; the reply does not") {
                val rpc = Requests(JsonRpc.codec())
                withRecordedClient({
                    url = peer.url("/jsonrpc")
                    layer(rpc)
                }) { _, handler ->
                    handler.expect<Seen.Connected>()
                    val notice = Frame.Text("""{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"notice"}}""")
                    repeat(2) {
                        rpc.call("notify") shouldBe "\"notified\""
                        // The handler sees each notification and nothing between them: the replies went to the calls.
                        handler.expect<Seen.Received>().frame shouldBe notice
                    }
                }
            }
        }
    })
