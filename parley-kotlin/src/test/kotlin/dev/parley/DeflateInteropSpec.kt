package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.withRecordedClient
import dev.parley.testing.ScriptedWsPeer
import dev.parley.testing.TcpRelay
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.comparables.shouldBeLessThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf

/*
 * permessage-deflate against servers nobody on this project wrote: npm's ws and Debian's python3-websockets, each in
 * three configurations, against each of Parley's offers. Every connection goes through a counting TCP relay, so the
 * specs see the bytes on the wire: compressed both ways, not just "it echoed".
 */
class DeflateInteropSpec :
    FunSpec({
        val servers = listOf(
            "npm ws, context kept" to { ScriptedWsPeer.npmWs(true, """{"threshold":0}""") },
            "npm ws, no context takeover either way" to {
                ScriptedWsPeer.npmWs(
                    true,
                    """{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true}""",
                )
            },
            "npm ws, a 9-bit server window" to
                { ScriptedWsPeer.npmWs(true, """{"threshold":0,"serverMaxWindowBits":9}""") },
            "python3-websockets, full window" to { ScriptedWsPeer.pythonWebsockets(true, "{}") },
            "python3-websockets, its own defaults (12-bit window, memLevel 5)" to {
                ScriptedWsPeer.pythonWebsockets(
                    true,
                    """{"server_max_window_bits":12,"compress_settings":{"memLevel":5}}""",
                )
            },
            "python3-websockets, no context takeover either way" to {
                ScriptedWsPeer.pythonWebsockets(
                    true,
                    """{"server_no_context_takeover":true,"client_no_context_takeover":true}""",
                )
            },
        )
        val offers = listOf(
            "the default offer" to Compression(threshold = 0),
            "client_no_context_takeover" to Compression(threshold = 0, clientNoContextTakeover = true),
            "server_no_context_takeover" to Compression(threshold = 0, serverNoContextTakeover = true),
            "server_max_window_bits=10" to Compression(threshold = 0, serverMaxWindowBits = 10),
        )

        for ((serverName, start) in servers) {
            val server = start()
            val relay = TcpRelay(server.port)
            afterSpec {
                relay.close()
                server.close()
            }
            context(serverName) {
                for ((offerName, compression) in offers) {
                    test("$offerName: JSON text and binary round trip, compressed both ways on the wire") {
                        val up = relay.bytesUp.get()
                        val down = relay.bytesDown.get()
                        withClient(relay.url("/extensions"), { this.compression = compression }) { client, handler ->
                            handler.expect<Seen.Connected>()
                            val selected = client.awaitConnected().responseHeaders["sec-websocket-extensions"]
                            withClue("selected: $selected") {
                                selected.orEmpty().single() shouldContain
                                    "permessage-deflate"
                            }
                            // The server saw our offer as we made it.
                            handler.expect<Seen.Received>().frame shouldBe
                                Frame.Text(
                                    "extensions ${dev.parley.internal.deflate.DeflateNegotiation.offer(compression)}",
                                )
                            var sent = 0L
                            repeat(MESSAGES) { i ->
                                val text = quote(i)
                                val frame = if (i % 4 == 3) Frame.Binary(text.encodeToByteArray()) else Frame.Text(text)
                                client.send(frame)
                                sent += text.length
                                handler.expect<Seen.Received>().frame shouldBe frame
                            }
                            // Uncompressed, the wire would carry more than was sent (frame headers, masks, the
                            // upgrade). Compressed message by message, without context, this JSON still takes about
                            // three quarters; with the context kept, about a sixth.
                            withClue(
                                "wire bytes up ${relay.bytesUp.get() - up}, down ${relay.bytesDown.get() - down}",
                            ) {
                                relay.bytesUp.get() - up shouldBeLessThan sent
                                relay.bytesDown.get() - down shouldBeLessThan sent
                            }
                        }
                    }
                }

                test("a compressed message the server sends as four frames arrives whole") {
                    withClient(relay.url("/fragments?count=4")) { client, handler ->
                        handler.expect<Seen.Connected>()
                        val text = (0 until 20).joinToString(",", "[", "]") { quote(it) }
                        client.send(Frame.Text(text))
                        handler.expect<Seen.Received>().frame shouldBe Frame.Text(text)
                        val bytes = text.encodeToByteArray()
                        client.send(Frame.Binary(bytes))
                        handler.expect<Seen.Received>().frame.shouldBeInstanceOf<Frame.Binary>().bytes shouldBe bytes
                    }
                }
            }
        }
    })

private const val MESSAGES = 40

/** A market-data style JSON message; consecutive ones differ in their numbers, as real feeds do. */
private fun quote(i: Int): String =
    """{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":""" +
        """{"timestamp":${1_733_000_000_000 + i * 100},"change_id":${80_000_000 + i},"bids":[["new",""" +
        """${64_000 + i % 7}.5,${1_200 + i * 10}],["change",${63_990 + i % 5}.0,300]],"asks":[["delete",""" +
        """${64_020 + i % 3}.0,0],["new",64030.5,${90 + i}]],"instrument_name":"BTC-PERPETUAL"}}}"""

/** Runs [block] with a client of [url]; the client is stopped afterwards. */
private suspend fun withClient(
    url: String,
    configure: ParleyOptions.Builder.() -> Unit = {},
    block: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
) = withRecordedClient({
    this.url = url
    configure()
}, block = block)
