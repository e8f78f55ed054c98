package dev.parley

import dev.parley.internal.Inbound
import dev.parley.internal.MessageAssembler
import dev.parley.transport.Opcode
import dev.parley.transport.WireFrame
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf

private fun bytes(vararg b: Int): ByteArray = ByteArray(b.size) { b[it].toByte() }

private fun text(s: String, fin: Boolean = true) = WireFrame(Opcode.TEXT, s.encodeToByteArray(), fin)

private fun textBytes(b: ByteArray, fin: Boolean = true) = WireFrame(Opcode.TEXT, b, fin)

private fun binary(b: ByteArray, fin: Boolean = true) = WireFrame(Opcode.BINARY, b, fin)

private fun cont(b: ByteArray, fin: Boolean) = WireFrame(Opcode.CONTINUATION, b, fin)

private fun cont(s: String, fin: Boolean) = cont(s.encodeToByteArray(), fin)

private fun closeFrame(code: Int, reason: ByteArray = ByteArray(0)) =
    WireFrame(Opcode.CLOSE, bytes(code shr 8 and 0xFF, code and 0xFF) + reason)

private fun Inbound?.message(): Frame = this.shouldBeInstanceOf<Inbound.Message>().frame

/** Asserts a violation closing with [code]; returns its reason. */
private fun Inbound?.violation(code: Int): DisconnectReason {
    val v = this.shouldBeInstanceOf<Inbound.Violation>()
    v.closeCode shouldBe code
    return v.reason
}

private fun Inbound?.protocolError(): DisconnectReason.ProtocolViolation {
    val reason = violation(CloseCodes.PROTOCOL_ERROR).shouldBeInstanceOf<DisconnectReason.ProtocolViolation>()
    reason.closeCode shouldBe CloseCodes.PROTOCOL_ERROR
    return reason
}

private fun Inbound?.invalidUtf8() {
    val reason = violation(CloseCodes.INVALID_PAYLOAD).shouldBeInstanceOf<DisconnectReason.ProtocolViolation>()
    reason.closeCode shouldBe CloseCodes.INVALID_PAYLOAD
}

class MessageAssemblerSpec :
    FunSpec({
        test("an unfragmented text or binary frame is a whole message") {
            val a = MessageAssembler(1000)
            a.accept(text("hello")).message() shouldBe Frame.Text("hello")
            a.accept(binary(bytes(1, 2, 3))).message() shouldBe Frame.Binary(bytes(1, 2, 3))
        }

        test("text fragments are joined into one message, delivered only on the final fragment") {
            val a = MessageAssembler(1000)
            a.accept(text("Hel", fin = false)).shouldBeNull()
            a.accept(cont("lo, ", fin = false)).shouldBeNull()
            a.accept(cont("world", fin = true)).message() shouldBe Frame.Text("Hello, world")
            // The assembler is ready for the next message afterwards.
            a.accept(text("next")).message() shouldBe Frame.Text("next")
        }

        test("binary fragments are joined into one message") {
            val a = MessageAssembler(1000)
            a.accept(binary(bytes(1), fin = false)).shouldBeNull()
            a.accept(cont(bytes(2, 3), fin = true)).message() shouldBe Frame.Binary(bytes(1, 2, 3))
        }

        test("a control frame between fragments is delivered at once and the message continues") {
            val a = MessageAssembler(1000)
            a.accept(text("a", fin = false)).shouldBeNull()
            a.accept(WireFrame(Opcode.PING, "p".encodeToByteArray())).shouldBeInstanceOf<Inbound.Ping>()
                .payload.decodeToString() shouldBe "p"
            a.accept(WireFrame(Opcode.PONG, "q".encodeToByteArray())).shouldBeInstanceOf<Inbound.Pong>()
                .payload.decodeToString() shouldBe "q"
            a.accept(cont("b", fin = true)).message() shouldBe Frame.Text("ab")
        }

        test("an empty final continuation completes the message") {
            val a = MessageAssembler(1000)
            a.accept(text("abc", fin = false)).shouldBeNull()
            a.accept(cont(ByteArray(0), fin = true)).message() shouldBe Frame.Text("abc")
        }

        test("closes with 1002 on a continuation frame without a message to continue") {
            MessageAssembler(1000).accept(cont("x", fin = true)).protocolError()
            MessageAssembler(1000).accept(cont("x", fin = false)).protocolError()
        }

        test("closes with 1002 on a continuation after a message already finished") {
            val a = MessageAssembler(1000)
            a.accept(text("done")).message() shouldBe Frame.Text("done")
            a.accept(cont("x", fin = true)).protocolError()
        }

        test("closes with 1002 on a new data frame while a fragmented message is incomplete") {
            val a = MessageAssembler(1000)
            a.accept(text("a", fin = false)).shouldBeNull()
            a.accept(text("b")).protocolError()
            val b = MessageAssembler(1000)
            b.accept(binary(bytes(1), fin = false)).shouldBeNull()
            b.accept(binary(bytes(2), fin = false)).protocolError()
        }

        for (rsv in 1..7) {
            test("closes with 1002 on reserved bits $rsv set on a data or control frame") {
                MessageAssembler(1000).accept(WireFrame(Opcode.TEXT, "x".encodeToByteArray(), rsv = rsv))
                    .protocolError()
                MessageAssembler(1000).accept(WireFrame(Opcode.PING, ByteArray(0), rsv = rsv)).protocolError()
            }
        }

        test("closes with 1002 on reserved bits set on a continuation frame") {
            val a = MessageAssembler(1000)
            a.accept(text("a", fin = false)).shouldBeNull()
            a.accept(WireFrame(Opcode.CONTINUATION, "b".encodeToByteArray(), fin = true, rsv = 4)).protocolError()
        }

        for (op in listOf(Opcode.PING, Opcode.PONG, Opcode.CLOSE)) {
            test("closes with 1002 on a fragmented $op frame") {
                MessageAssembler(1000).accept(WireFrame(op, ByteArray(0), fin = false)).protocolError()
            }

            test("closes with 1002 on a $op frame of 126 bytes; 125 bytes pass") {
                MessageAssembler(1000).accept(WireFrame(op, ByteArray(126))).protocolError()
                val ok = MessageAssembler(1000).accept(
                    if (op ==
                        Opcode.CLOSE
                    ) {
                        closeFrame(1000, ByteArray(123) { 'a'.code.toByte() })
                    } else {
                        WireFrame(op, ByteArray(125))
                    },
                )
                ok.shouldBeInstanceOf<Inbound>()
                (ok is Inbound.Violation) shouldBe false
            }
        }

        test("closes with 1009 on a single frame over the limit; a frame at the limit passes") {
            MessageAssembler(10).accept(binary(ByteArray(10))).message() shouldBe Frame.Binary(ByteArray(10))
            val reason = MessageAssembler(10).accept(binary(ByteArray(11))).violation(CloseCodes.MESSAGE_TOO_BIG)
            reason shouldBe DisconnectReason.MessageTooBig(10)
        }

        test("closes with 1009 on a text frame over the limit before its UTF-8 is checked") {
            MessageAssembler(3).accept(textBytes(bytes(0xFF, 0xFF, 0xFF, 0xFF)))
                .violation(CloseCodes.MESSAGE_TOO_BIG) shouldBe DisconnectReason.MessageTooBig(3)
        }

        test("closes with 1009 on fragments that are each small but together exceed the limit") {
            val a = MessageAssembler(10)
            a.accept(text("12345", fin = false)).shouldBeNull()
            a.accept(cont("12345", fin = false)).shouldBeNull()
            a.accept(cont("1", fin = true)).violation(CloseCodes.MESSAGE_TOO_BIG) shouldBe
                DisconnectReason.MessageTooBig(10)
        }

        test("fragments adding up to exactly the limit pass") {
            val a = MessageAssembler(10)
            a.accept(binary(ByteArray(4), fin = false)).shouldBeNull()
            a.accept(cont(ByteArray(6), fin = true)).message() shouldBe Frame.Binary(ByteArray(10))
        }

        test("closes with 1009 on the first fragment alone over the limit") {
            MessageAssembler(10).accept(binary(ByteArray(11), fin = false))
                .violation(CloseCodes.MESSAGE_TOO_BIG) shouldBe DisconnectReason.MessageTooBig(10)
        }

        test("closes with 1007 on an invalid byte in a single text frame") {
            MessageAssembler(1000).accept(textBytes(bytes(0x61, 0xC3, 0x28))).invalidUtf8()
        }

        test("closes with 1007 at the first bad fragment of a text message, before the final one") {
            val a = MessageAssembler(1000)
            a.accept(text("fine ", fin = false)).shouldBeNull()
            a.accept(cont(bytes(0x61, 0xFF), fin = false)).invalidUtf8()
        }

        test("closes with 1007 on a UTF-8 sequence truncated at the end of a single frame") {
            MessageAssembler(1000).accept(textBytes(bytes(0x61, 0xE2, 0x82))).invalidUtf8()
        }

        test("closes with 1007 on a UTF-8 sequence truncated at the end of the final fragment") {
            val a = MessageAssembler(1000)
            a.accept(text("ok", fin = false)).shouldBeNull()
            a.accept(cont(bytes(0xF0, 0x9F, 0x98), fin = true)).invalidUtf8()
        }

        test("closes with 1007 on an overlong UTF-8 encoding") {
            MessageAssembler(1000).accept(textBytes(bytes(0xC0, 0xAF))).invalidUtf8()
            MessageAssembler(1000).accept(textBytes(bytes(0xE0, 0x80, 0xAF))).invalidUtf8()
        }

        test("closes with 1007 on an encoded surrogate") {
            MessageAssembler(1000).accept(textBytes(bytes(0xED, 0xA0, 0x80))).invalidUtf8()
        }

        test("closes with 1007 on a code point above U+10FFFF") {
            MessageAssembler(1000).accept(textBytes(bytes(0xF4, 0x90, 0x80, 0x80))).invalidUtf8()
        }

        test("binary messages are not checked as UTF-8") {
            MessageAssembler(1000).accept(binary(bytes(0xFF, 0xC0))).message() shouldBe
                Frame.Binary(bytes(0xFF, 0xC0))
        }

        test("multi-byte characters split across fragment boundaries are accepted") {
            val whole = "€😀é".encodeToByteArray() // 3 + 4 + 2 bytes
            for (cut1 in 1 until whole.size) {
                for (cut2 in cut1 until whole.size) {
                    val a = MessageAssembler(1000)
                    a.accept(textBytes(whole.copyOfRange(0, cut1), fin = false)).shouldBeNull()
                    a.accept(cont(whole.copyOfRange(cut1, cut2), fin = false)).shouldBeNull()
                    a.accept(cont(whole.copyOfRange(cut2, whole.size), fin = true)).message() shouldBe
                        Frame.Text("€😀é")
                }
            }
        }

        test("a new fragmented message starts with fresh UTF-8 state") {
            val a = MessageAssembler(1000)
            a.accept(text("ab", fin = false)).shouldBeNull()
            a.accept(cont("c", fin = true)).message() shouldBe Frame.Text("abc")
            a.accept(textBytes(bytes(0xE2, 0x82), fin = false)).shouldBeNull()
            a.accept(cont(bytes(0xAC), fin = true)).message() shouldBe Frame.Text("€")
        }

        test("close frame: an empty payload means no status, 1005 with an empty reason") {
            MessageAssembler(1000).accept(WireFrame(Opcode.CLOSE, ByteArray(0))) shouldBe
                Inbound.Close(CloseCodes.NO_STATUS, "")
        }

        test("close frame: a 1-byte payload closes with 1002") {
            MessageAssembler(1000).accept(WireFrame(Opcode.CLOSE, bytes(0x03))).protocolError()
        }

        for (code in listOf(0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)) {
            test("close frame: code $code may not be sent, so it closes with 1002") {
                MessageAssembler(1000).accept(closeFrame(code)).protocolError()
            }
        }

        for (code in listOf(1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999)) {
            test("close frame: code $code is accepted with its reason") {
                MessageAssembler(1000).accept(closeFrame(code, "bye ✓".encodeToByteArray())) shouldBe
                    Inbound.Close(code, "bye ✓")
            }
        }

        test("close frame: a code with no reason gives an empty reason") {
            MessageAssembler(1000).accept(closeFrame(1000)) shouldBe Inbound.Close(1000, "")
        }

        test("close frame: a reason that is not UTF-8 closes with 1007") {
            MessageAssembler(1000).accept(closeFrame(1000, bytes(0x61, 0xFF))).invalidUtf8()
            MessageAssembler(1000).accept(closeFrame(1000, bytes(0xE2, 0x82))).invalidUtf8()
        }

        test("close frame: accepted between fragments of a message") {
            val a = MessageAssembler(1000)
            a.accept(text("a", fin = false)).shouldBeNull()
            a.accept(closeFrame(1001)) shouldBe Inbound.Close(1001, "")
        }
    })
