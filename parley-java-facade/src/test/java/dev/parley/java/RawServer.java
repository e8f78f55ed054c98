package dev.parley.java;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A minimal RFC 6455 server on 127.0.0.1 for the Java contract tests, in Java because the core's RawWebSocketServer is
 * driven through suspend functions. It answers each upgrade (counted in {@link #upgrades()} before the 101 is written),
 * then hands the connection to the test's script on the connection's own daemon thread.
 */
final class RawServer implements AutoCloseable {
    /** What the server does with one upgraded connection. */
    interface Script {
        void run(Conn conn) throws Exception;
    }

    private static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private final ServerSocket server;
    private final Script script;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final AtomicInteger upgrades = new AtomicInteger();

    /**
     * @param receiveBuffer the accepted sockets' SO_RCVBUF (set on the listening socket, so it applies from the SYN), or
     *     0 for the system default.
     */
    RawServer(int receiveBuffer, Script script) throws IOException {
        this.script = script;
        server = new ServerSocket();
        server.setReuseAddress(true);
        if (receiveBuffer > 0) server.setReceiveBufferSize(receiveBuffer);
        server.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
        Thread accept = new Thread(this::acceptLoop, "raw-server-accept-" + server.getLocalPort());
        accept.setDaemon(true);
        accept.start();
    }

    RawServer(Script script) throws IOException {
        this(0, script);
    }

    String url() {
        return "ws://127.0.0.1:" + server.getLocalPort() + "/ws";
    }

    /** Upgrades answered with 101 so far. */
    int upgrades() {
        return upgrades.get();
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            Socket socket;
            try {
                socket = server.accept();
            } catch (IOException e) {
                return;
            }
            sockets.add(socket);
            Thread t = new Thread(() -> serve(socket), "raw-server-conn-" + server.getLocalPort());
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Socket socket) {
        try {
            socket.setSoTimeout(5_000);
            Conn conn = new Conn(socket);
            String key = conn.readRequestHead();
            String accept = Base64.getEncoder().encodeToString(
                MessageDigest.getInstance("SHA-1").digest((key + GUID).getBytes(StandardCharsets.ISO_8859_1)));
            upgrades.incrementAndGet();
            conn.sendRaw(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: " + accept + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            script.run(conn);
        } catch (Exception e) {
            // the client went away, or the test closed the server: the script's own checks report what matters
        }
    }

    /** A decoded client frame. */
    static final class Frame {
        final int opcode;
        final byte[] payload;

        Frame(int opcode, byte[] payload) {
            this.opcode = opcode;
            this.payload = payload;
        }

        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }

        int closeCode() {
            return payload.length >= 2 ? ByteBuffer.wrap(payload).getShort() & 0xFFFF : 1005;
        }

        @Override
        public String toString() {
            switch (opcode) {
                case 0x1: return "TEXT(" + text() + ")";
                case 0x2: return "BINARY(" + payload.length + " bytes)";
                case 0x8: return "CLOSE(" + closeCode() + ")";
                case 0x9: return "PING";
                case 0xA: return "PONG";
                default: return "OPCODE(" + opcode + ")";
            }
        }
    }

    /** One upgraded connection, seen from the server. */
    static final class Conn {
        final Socket socket;
        private final DataInputStream in;
        private final OutputStream out;

        Conn(Socket socket) throws IOException {
            this.socket = socket;
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            this.out = socket.getOutputStream();
        }

        /** Reads the request head; returns its Sec-WebSocket-Key. */
        String readRequestHead() throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            InputStream input = in;
            int matched = 0;
            while (matched < 4) {
                int b = input.read();
                if (b < 0) throw new EOFException("EOF in the request head");
                head.write(b);
                if (b == '\r' && (matched == 0 || matched == 2)) matched++;
                else if (b == '\n' && (matched == 1 || matched == 3)) matched++;
                else matched = b == '\r' ? 1 : 0;
            }
            for (String line : head.toString(StandardCharsets.ISO_8859_1).split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).trim().toLowerCase(Locale.ROOT).equals("sec-websocket-key")) {
                    return line.substring(colon + 1).trim();
                }
            }
            throw new IOException("no Sec-WebSocket-Key");
        }

        void sendRaw(byte[] bytes) throws IOException {
            synchronized (out) {
                out.write(bytes);
                out.flush();
            }
        }

        /** Encodes one final server frame; {@code mask} true breaks RFC 6455 (servers must not mask). */
        static byte[] frame(int opcode, byte[] payload, boolean mask) {
            ByteBuffer b = ByteBuffer.allocate(14 + payload.length);
            b.put((byte) (0x80 | opcode));
            int maskBit = mask ? 0x80 : 0;
            if (payload.length < 126) {
                b.put((byte) (maskBit | payload.length));
            } else if (payload.length <= 0xFFFF) {
                b.put((byte) (maskBit | 126)).putShort((short) payload.length);
            } else {
                b.put((byte) (maskBit | 127)).putLong(payload.length);
            }
            if (mask) {
                byte[] key = {1, 2, 3, 4};
                b.put(key);
                for (int i = 0; i < payload.length; i++) b.put((byte) (payload[i] ^ key[i % 4]));
            } else {
                b.put(payload);
            }
            byte[] bytes = new byte[b.position()];
            b.flip().get(bytes);
            return bytes;
        }

        /** The next client frame, or {@code null} on EOF, a reset or no frame within {@code timeoutMillis}. */
        Frame readFrame(int timeoutMillis) throws IOException {
            try {
                socket.setSoTimeout(timeoutMillis);
                int b0 = in.readUnsignedByte();
                int b1 = in.readUnsignedByte();
                long length = b1 & 0x7F;
                if (length == 126) length = in.readUnsignedShort();
                else if (length == 127) length = in.readLong();
                byte[] key = new byte[4];
                if ((b1 & 0x80) != 0) in.readFully(key);
                byte[] payload = new byte[(int) length];
                in.readFully(payload);
                for (int i = 0; i < payload.length; i++) payload[i] = (byte) (payload[i] ^ key[i % 4]);
                return new Frame(b0 & 0x0F, payload);
            } catch (SocketTimeoutException | EOFException e) {
                return null;
            } catch (IOException e) {
                return null; // a reset, or the socket closed under us: the client is gone
            }
        }

        void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }
}
