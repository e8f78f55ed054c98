package dev.parley.testkit

import dev.parley.testkit.internal.Wire

/**
 * RFC 6455 opcodes and a frame encoder, for tests that send hand-made (possibly broken) frames with
 * [TestConnection.sendRaw] or [TestConnection.sendFrame].
 */
public object WebSocketFrames {
    /** Opcode 0x0: a continuation of a fragmented message. */
    public const val CONTINUATION: Int = 0x0

    /** Opcode 0x1: text. */
    public const val TEXT: Int = 0x1

    /** Opcode 0x2: binary. */
    public const val BINARY: Int = 0x2

    /** Opcode 0x8: close. */
    public const val CLOSE: Int = 0x8

    /** Opcode 0x9: ping. */
    public const val PING: Int = 0x9

    /** Opcode 0xA: pong. */
    public const val PONG: Int = 0xA

    /**
     * Encodes one frame: [opcode] (any 4-bit value, reserved ones included), [payload], the FIN bit, the three RSV bits
     * ([rsv], 0 to 7) and, when [mask] is true, a mask (which a server must never send: a fault for the client).
     */
    @JvmStatic
    @JvmOverloads
    public fun encode(
        opcode: Int,
        payload: ByteArray,
        fin: Boolean = true,
        rsv: Int = 0,
        mask: Boolean = false,
    ): ByteArray {
        require(opcode in 0..0xF) { "opcode $opcode is not 4 bits" }
        require(rsv in 0..7) { "rsv $rsv is not 3 bits" }
        return Wire.encode(opcode, payload, fin, rsv, mask)
    }

    /** The payload of a close frame: [code] (2 bytes, big-endian) then [reason] in UTF-8. */
    @JvmStatic
    public fun closePayload(code: Int, reason: String): ByteArray = Wire.closePayload(code, reason)
}
