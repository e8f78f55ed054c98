package dev.parley.internal.deflate

import dev.parley.Compression
import dev.parley.transport.HandshakeRejectedException
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain

/** What Parley offers, and which answers to it are accepted (RFC 7692 §5 and §7.1). */
class DeflateNegotiationSpec :
    FunSpec({
        fun answer(vararg lines: String) = mapOf("sec-websocket-extensions" to lines.toList())
        val defaults = Compression()

        context("the offer") {
            test("by default names the extension alone, never client_max_window_bits") {
                DeflateNegotiation.offer(defaults) shouldBe "permessage-deflate"
            }

            test("carries each parameter the settings ask for") {
                DeflateNegotiation.offer(
                    Compression(
                        clientNoContextTakeover = true,
                        serverNoContextTakeover = true,
                        serverMaxWindowBits = 10,
                    ),
                ) shouldBe
                    "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10"
            }
        }

        context("an answer that is accepted") {
            test("no extension header means no compression") {
                DeflateNegotiation.accept(emptyMap(), defaults) shouldBe null
                DeflateNegotiation.accept(answer(""), defaults) shouldBe null
            }

            test("the bare extension keeps context both ways") {
                DeflateNegotiation.accept(answer("permessage-deflate"), defaults) shouldBe
                    DeflateParameters(clientNoContextTakeover = false, serverNoContextTakeover = false, null)
            }

            test("the server may ask for client_no_context_takeover and name its window unasked") {
                DeflateNegotiation.accept(
                    answer("permessage-deflate; client_no_context_takeover; server_max_window_bits=12"),
                    defaults,
                ) shouldBe DeflateParameters(clientNoContextTakeover = true, serverNoContextTakeover = false, 12)
            }

            test("names and a quoted value are read as RFC 6455 §9.1 allows, over several header lines") {
                DeflateNegotiation.accept(
                    answer("Permessage-Deflate;Server_No_Context_Takeover", ""),
                    defaults,
                ) shouldBe DeflateParameters(false, serverNoContextTakeover = true, null)
                DeflateNegotiation.accept(answer("permessage-deflate; server_max_window_bits=\"9\""), defaults) shouldBe
                    DeflateParameters(false, false, 9)
            }

            test("our own client_no_context_takeover holds whether or not the server repeats it") {
                DeflateNegotiation.accept(
                    answer("permessage-deflate"),
                    Compression(clientNoContextTakeover = true),
                )!!.clientNoContextTakeover shouldBe true
            }
        }

        context("an answer that fails the upgrade, with its reason") {
            val refused = listOf(
                "x-webkit-deflate-frame" to "which was not offered",
                "permessage-deflate, permessage-deflate" to "2 extensions",
                "permessage-deflate; mystery=1" to "unknown parameter mystery",
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover" to "repeats",
                "permessage-deflate; client_no_context_takeover=1" to "takes no value",
                "permessage-deflate; server_max_window_bits" to "must be 8..15",
                "permessage-deflate; server_max_window_bits=7" to "must be 8..15",
                "permessage-deflate; server_max_window_bits=16" to "must be 8..15",
                "permessage-deflate; server_max_window_bits=010" to "must be 8..15",
                "permessage-deflate; client_max_window_bits=10" to "32 KiB",
                "permessage-deflate; server_max_window_bits=" to "malformed",
                "permessage-deflate; =1" to "malformed",
            )
            for ((header, why) in refused) {
                test("'$header'") {
                    val e =
                        shouldThrow<HandshakeRejectedException> { DeflateNegotiation.accept(answer(header), defaults) }
                    e.status shouldBe 101
                    e.message shouldContain why
                }
            }

            test("a window larger than the one we asked for") {
                shouldThrow<HandshakeRejectedException> {
                    DeflateNegotiation.accept(
                        answer("permessage-deflate; server_max_window_bits=12"),
                        Compression(serverMaxWindowBits = 10),
                    )
                }.message shouldContain "above the 10 offered"
            }

            test("any extension when compression is off, so nothing was offered") {
                shouldThrow<HandshakeRejectedException> {
                    DeflateNegotiation.accept(answer("permessage-deflate"), offered = null)
                }.message shouldContain "none was offered"
            }
        }
    })
