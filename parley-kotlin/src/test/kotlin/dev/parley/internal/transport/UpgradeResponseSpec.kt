package dev.parley.internal.transport

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.EOFException
import java.net.ProtocolException

/* The upgrade response is the first thing a server controls: every way it can be wrong has a named failure. */
class UpgradeResponseSpec :
    FunSpec({
        fun channel(text: String) = LinkInput(BytesLink(text.toByteArray(Charsets.ISO_8859_1), chunk = 7))

        suspend fun read(text: String) = UpgradeResponseReader.read(channel(text))

        test("a 101 gives its status, reason and headers, names lower-cased and repeated values kept in order") {
            val response =
                read(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                        "Set-Cookie: a=1\r\nset-cookie:b=2 \r\n\r\n",
                )
            response.status shouldBe 101
            response.reasonPhrase shouldBe "Switching Protocols"
            response.headers["upgrade"] shouldBe listOf("websocket")
            response.headers["set-cookie"] shouldBe listOf("a=1", "b=2")
        }

        test("bytes after the empty line are left for the frame reader") {
            val channel = channel("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n\u0081\u0002hi")
            UpgradeResponseReader.read(channel).status shouldBe 101
            channel.require(1) shouldBe true
            channel.byte() shouldBe 0x81
        }

        test("bare LF line ends are accepted, and a status line without a reason phrase") {
            val response = read("HTTP/1.1 401\nWWW-Authenticate: Bearer\n\n")
            response.status shouldBe 401
            response.reasonPhrase shouldBe ""
            response.headers["www-authenticate"] shouldBe listOf("Bearer")
        }

        test("random bytes fail as not an HTTP status line, shown printable") {
            val e = shouldThrow<ProtocolException> { read("\u0016\u0003\u0001garbage\r\n\r\n") }
            e.message shouldContain "not an HTTP/1.x status line"
            e.message shouldContain "\\x16\\x03\\x01garbage"
        }

        test("more than 100 header lines fail, however short they are") {
            val head = "HTTP/1.1 101 Switching Protocols\r\n" + "X: y\r\n".repeat(101) + "\r\n"
            shouldThrow<ProtocolException> { read(head) }.message shouldContain "more than 100 header lines"
        }

        test("a head over 16 KiB fails before the end of its line") {
            val head = "HTTP/1.1 101 Switching Protocols\r\nX: " + "y".repeat(20_000) + "\r\n\r\n"
            shouldThrow<ProtocolException> { read(head) }.message shouldContain "longer than 16384 bytes"
        }

        test("a folded header line, a line without a colon, a bad header name and a NUL byte each fail") {
            suspend fun failure(headerLines: String) =
                shouldThrow<ProtocolException> { read("HTTP/1.1 101 OK\r\n$headerLines\r\n") }.message
            failure("A: b\r\n c\r\n") shouldContain "folded"
            failure("no colon\r\n") shouldContain "not a header line"
            failure("Bad Name: x\r\n") shouldContain "not a header line"
            failure("A: \u0000\r\n") shouldContain "NUL"
        }

        test("an end of stream before any byte or inside the head is an EOFException that says where") {
            shouldThrow<EOFException> { read("") }.message shouldContain "before answering"
            shouldThrow<EOFException> { read("HTTP/1.1 101 OK\r\nUpgrade: x\r\n") }.message shouldContain "middle"
            shouldThrow<EOFException> { read("HTTP/1.1 101 OK\r\nUpgr") }.message shouldContain "middle"
        }
    })
