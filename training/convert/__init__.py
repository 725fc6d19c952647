"""ANN-to-SNN conversion with in-the-loop fine-tuning.

A rate network with the soft-LIF activation (Hunsberger & Eliasmith 2015,
arXiv:1510.08829) is trained in software (:mod:`.ann`), mapped onto the chip as
rate-coded spiking network (:mod:`.chipmap`) and then fine-tuned with the chip in the
loop (:mod:`.finetune`; Schmitt et al. 2017, IJCNN, doi:10.1109/IJCNN.2017.7966125):
every step runs a batch on the chip, the measured rates of every layer replace the
software activations, and backpropagation through the soft-LIF derivative at the
measured operating point computes the update of the 6-bit codes. :mod:`.config` holds
the settings and the input encoding, :mod:`.checkpoint` the resumable state,
:mod:`.figure` the accuracy-against-iteration figure, :mod:`.run` the command.
"""
