"""Pure imaging core: sniffing, decoding under limits, rendering, metadata, tag labels."""
