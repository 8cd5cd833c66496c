extension Sequential {
    /// How far an output value can reach into the input: the largest distance, measured in input
    /// positions along one axis, from an output value's own cell to an input value it depends on.
    ///
    /// A network evaluated on a crop of its input gives exactly the values of the whole-input
    /// evaluation everywhere at least this far from the crop's edges (zero padding at a crop edge
    /// then affects only values within the radius), which lets the codec run its transforms block
    /// by block with a margin of `ceil(receptiveRadius)` instead of on a whole image at once.
    ///
    /// Each convolution adds its widest reach past its own cell, `max(pad, kernel − 1 − pad)`,
    /// times the size of its input cells; a convolution with stride `s` makes cells `s` times
    /// larger, `PixelShuffle(r)` makes them `r` times smaller. GDN and IGDN act on each position
    /// alone and add nothing. Any other layer stops the program: its reach is not known here.
    public var receptiveRadius: Double {
        var radius = 0.0
        var cell = 1.0  // size of the current layer's input cell, in network-input positions
        for layer in layers {
            switch layer {
            case let conv as Conv2d:
                let g = conv.geometry
                let reach = max(g.padTop, g.padLeft, g.padBottom, g.padRight,
                                g.kernelHeight - 1 - g.padTop, g.kernelWidth - 1 - g.padLeft)
                radius += Double(reach) * cell
                cell *= Double(g.stride)
            case let shuffle as PixelShuffle:
                cell /= Double(shuffle.factor)
            case is GDN:
                break
            default:
                preconditionFailure("receptiveRadius does not know the reach of \(type(of: layer))")
            }
        }
        return radius
    }
}
