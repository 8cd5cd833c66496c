import XCTest
@testable import Engine

/// Autoregressive order of the PixelCNN layers, checked by perturbation: an output may change
/// only when an input it is allowed to see changes. Positions are in raster order; within a
/// position, channel groups are ordered. Outputs that must not change are compared exactly.
final class CausalityTests: XCTestCase {
    /// For every input (position, group) perturbed in turn, calls
    /// `check(inputRow, inputColumn, inputGroup, outputRow, outputColumn, outputGroup, changed)`.
    private func forEachInfluence(
        of layer: any Layer, inputChannels: Int, outputChannels: Int, groups: Int, height: Int, width: Int,
        random: inout TestRandom,
        _ check: (_ ir: Int, _ ic: Int, _ ig: Int, _ or: Int, _ oc: Int, _ og: Int, _ changed: Bool) -> Void
    ) {
        let x = random.tensor([1, inputChannels, height, width])
        let base = layer.forward(x)
        XCTAssertEqual(base.shape, [1, outputChannels, height, width])
        let (inPerGroup, outPerGroup) = (inputChannels / groups, outputChannels / groups)
        for ir in 0..<height { for ic in 0..<width { for ig in 0..<groups {
            var perturbed = x
            for channel in ig * inPerGroup..<(ig + 1) * inPerGroup {
                perturbed.data[(channel * height + ir) * width + ic] += 1.5
            }
            let y = layer.forward(perturbed)
            for or in 0..<height { for oc in 0..<width { for og in 0..<groups {
                var changed = false
                for channel in og * outPerGroup..<(og + 1) * outPerGroup {
                    let index = (channel * height + or) * width + oc
                    if y.data[index] != base.data[index] { changed = true }
                }
                check(ir, ic, ig, or, oc, og, changed)
            } } }
        } } }
    }

    /// Strictly before in (raster position, group) order.
    private func precedes(_ ir: Int, _ ic: Int, _ ig: Int, _ or: Int, _ oc: Int, _ og: Int) -> Bool {
        ir < or || (ir == or && ic < oc) || (ir == or && ic == oc && ig < og)
    }

    func testMaskedConvolutionSeesExactlyItsWindowInOrder() {
        var random = TestRandom(seed: 31)
        let (k, groups) = (5, 3)
        for mask in [PixelCNNMask.a, .b] {
            let conv = MaskedConv2d(name: "m", inputChannels: 6, outputChannels: 6, kernelSize: k, mask: mask,
                                    groups: groups, using: &random)
            var upRightSeen = false
            forEachInfluence(of: conv, inputChannels: 6, outputChannels: 6, groups: groups, height: 6, width: 7,
                             random: &random) { ir, ic, ig, or, oc, og, changed in
                let inWindow = abs(ir - or) <= k / 2 && abs(ic - oc) <= k / 2
                let allowed = ir < or || (ir == or && ic < oc)
                    || (ir == or && ic == oc && (mask == .a ? ig < og : ig <= og))
                XCTAssertEqual(changed, inWindow && allowed,
                               "mask \(mask): input (\(ir), \(ic), g\(ig)) → output (\(or), \(oc), g\(og))")
                if ir == or - 1 && ic == oc + 1 && changed { upRightSeen = true }
            }
            XCTAssertTrue(upRightSeen)
        }
    }

    func testMaskedConvolutionStackNeverSeesTheFuture() {
        var random = TestRandom(seed: 32)
        let groups = 2
        let stack = Sequential([
            MaskedConv2d(name: "s.0", inputChannels: 4, outputChannels: 6, kernelSize: 3, mask: .a, groups: groups, using: &random),
            ReLU(),
            MaskedConv2d(name: "s.2", inputChannels: 6, outputChannels: 6, kernelSize: 3, mask: .b, groups: groups, using: &random),
            ReLU(),
            MaskedConv2d(name: "s.4", inputChannels: 6, outputChannels: 4, kernelSize: 1, mask: .b, groups: groups, using: &random),
        ])
        forEachInfluence(of: stack, inputChannels: 4, outputChannels: 4, groups: groups, height: 5, width: 5,
                         random: &random) { ir, ic, ig, or, oc, og, changed in
            if changed {
                XCTAssertTrue(self.precedes(ir, ic, ig, or, oc, og), "input (\(ir), \(ic), g\(ig)) reached output (\(or), \(oc), g\(og))")
            }
        }
    }

    /// A full gated PixelCNN (3 blocks, 3×3 kernels, 2 groups) with a masked 1×1 head: every output
    /// depends on exactly the earlier inputs inside its receptive field — rows r−3 … r−1 ×
    /// columns c−3 … c+3, row r columns c−3 … c−1, and earlier groups at (r, c) — with no blind spot.
    func testGatedPixelCNNHasExactCausalReceptiveFieldWithoutBlindSpot() {
        var random = TestRandom(seed: 33)
        let (groups, embedded, channels, blocks) = (2, 4, 6, 3)
        var layers: [any Layer] = [
            GatedPixelCNNBlock(name: "p.0", inputChannels: embedded, channels: channels, kernelSize: 3, mask: .a,
                               groups: groups, using: &random),
        ]
        for b in 1..<blocks {
            layers.append(GatedPixelCNNBlock(name: "p.\(b)", inputChannels: 2 * channels, channels: channels,
                                             kernelSize: 3, mask: .b, groups: groups, using: &random))
        }
        layers.append(ChannelSlice(channels: channels..<2 * channels))
        layers.append(MaskedConv2d(name: "head", inputChannels: channels, outputChannels: 2 * groups, kernelSize: 1,
                                   mask: .b, groups: groups, using: &random))
        let prior = Sequential(layers)
        let reach = blocks  // blocks · (kernelSize / 2)
        var upRightCount = 0
        forEachInfluence(of: prior, inputChannels: embedded, outputChannels: 2 * groups, groups: groups,
                         height: 9, width: 9, random: &random) { ir, ic, ig, or, oc, og, changed in
            let above = ir < or && or - ir <= reach && abs(ic - oc) <= reach
            let left = ir == or && ic < oc && oc - ic <= reach
            let centre = ir == or && ic == oc && ig < og
            XCTAssertEqual(changed, above || left || centre,
                           "input (\(ir), \(ic), g\(ig)) → output (\(or), \(oc), g\(og))")
            if changed && ir < or && ic > oc { upRightCount += 1 }
        }
        XCTAssertGreaterThan(upRightCount, 0)
    }
}
