import mindspore

mindspore.set_seed(3)
mindspore.jit_class_that_does_not_exist(lambda: 1)
